// The wave loop every fleet command shares, as a value: which wave starts next, when the run stops (the failure
// budget spent, the ledger refusing a write, an interruption) and how it ends. Bootstrap, rotate and audit feed it
// what each wave did and do what it says; it does no I/O, so its decisions are tested alone (RunDriverTests).
import Foundation
import Ledger

public struct RunDriver: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Run wave `index` (0-based).
        case startWave(Int)
        /// No further wave starts: the clusters of waves `remainingFrom...` are recorded not started.
        case stop(StopReason, remainingFrom: Int)
        /// Every wave has run, or the run has stopped: `outcome` says how it ended.
        case finish
    }

    public enum StopReason: Sendable, Equatable, CustomStringConvertible {
        /// Ctrl-C or SIGTERM.
        case interrupted
        /// More clusters failed than the budget allows, with waves still to come.
        case budget(failures: Int, budget: Int)
        /// The ledger refused a write: without its journal the run could not be resumed safely.
        case ledger(description: String, hint: String?)

        public var description: String {
            switch self {
            case .interrupted: "interrupted"
            case .budget(let failures, let budget):
                "\(failures) clusters failed, more than the budget of \(budget): no further wave starts"
            case .ledger(let description, let hint): "\(description): no further cluster starts; \(hint ?? "")"
            }
        }
    }

    /// What one wave did, as the driver needs to know it.
    public struct WaveResult: Sendable, Equatable {
        public var failed = 0
        /// The run was cancelled while (or before) the wave ran.
        public var cancelled = false
        /// The first write the ledger refused, if any.
        public var ledgerFailure: LedgerWriteError?

        public init(failed: Int = 0, cancelled: Bool = false, ledgerFailure: LedgerWriteError? = nil) {
            (self.failed, self.cancelled, self.ledgerFailure) = (failed, cancelled, ledgerFailure)
        }
    }

    public let waves: Int
    public let budget: Int
    public private(set) var failures = 0
    public private(set) var stopReason: StopReason?
    private var next = 0
    private var finished = false

    public init(waves: Int, budget: Int) {
        (self.waves, self.budget) = (waves, budget)
    }

    /// The first action, given what is known before any wave (an interruption, a write the ledger already refused).
    public mutating func start(_ before: WaveResult = WaveResult()) -> Action {
        if let reason = reason(after: before, lastWave: false) { return stop(reason) }
        return advance()
    }

    /// Wave `index` ended with `result`: what next.
    public mutating func waveEnded(_ result: WaveResult) -> Action {
        failures += result.failed
        if let reason = reason(after: result, lastWave: next >= waves) { return stop(reason) }
        return advance()
    }

    /// The run was interrupted before the wave last handed out could start: that wave is left with the rest.
    public mutating func interruptedBeforeWave() -> Action {
        next = max(0, next - 1)
        return stop(.interrupted)
    }

    /// After `.stop`, the run ends.
    public mutating func stopped() -> Action {
        finished = true
        return .finish
    }

    /// The loop itself, for bootstrap, rotate and audit alike: `wave` runs wave `index` and says what it did;
    /// `onStop` hears why the run stops and which waves are left, whose clusters it records as not started.
    public mutating func run(
        before: WaveResult, wave: (Int) async -> WaveResult, onStop: (StopReason, Range<Int>) async -> Void
    ) async {
        var action = start(before)
        while true {
            switch action {
            case .startWave(let index):
                if Task.isCancelled {
                    action = interruptedBeforeWave()
                    continue
                }
                action = waveEnded(await wave(index))
            case .stop(let reason, let remainingFrom):
                await onStop(reason, remainingFrom..<max(remainingFrom, waves))
                action = stopped()
            case .finish:
                return
            }
        }
    }

    /// How the run ended; `otherFailure` is a failure outside the clusters (a rotation's identity refused).
    public func outcome(otherFailure: Bool = false) -> RunRecord.Outcome {
        switch stopReason {
        case .interrupted?: .interrupted
        case .budget?, .ledger?: .stopped
        case nil: failures == 0 && !otherFailure ? .succeeded : .failed
        }
    }

    /// The reason a run stops after `result`: interruption first, then the ledger, then the budget (only when a
    /// further wave would start).
    private func reason(after result: WaveResult, lastWave: Bool) -> StopReason? {
        if result.cancelled { return .interrupted }
        if let failure = result.ledgerFailure { return .ledger(description: failure.description, hint: failure.hint) }
        if failures > budget, !lastWave { return .budget(failures: failures, budget: budget) }
        return nil
    }

    private mutating func stop(_ reason: StopReason) -> Action {
        stopReason = reason
        return .stop(reason, remainingFrom: next)
    }

    private mutating func advance() -> Action {
        guard next < waves, !finished else {
            finished = true
            return .finish
        }
        next += 1
        return .startWave(next - 1)
    }

    /// `run-20261207-100000-abcd`, `audit-…`: sortable by start, unique enough for a ledger.
    public static func newRunID(prefix: String = "run", _ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let suffix = String((0..<4).map { _ in "abcdefghjkmnpqrstuvwxyz23456789".randomElement()! })
        return "\(prefix)-\(formatter.string(from: date))-\(suffix)"
    }
}
