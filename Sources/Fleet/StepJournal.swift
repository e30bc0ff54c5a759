// A cluster's steps, journaled in the ledger before and after each runs, timed, and tried again when they failed for
// a passing reason. Bootstrap and rotation steps are idempotent, so a retry (or a resumed run) is safe.
import AWS
import FleetSupport
import Git
import Kube
import Ledger

/// A step of a cluster's work, journaled by name.
protocol JournaledStep: RawRepresentable, Sendable where RawValue == String {}

extension BootstrapStep: JournaledStep {}

/// A cluster's steps in a key rotation, in the order they run.
enum RotationStep: String, JournaledStep, CaseIterable {
    case credentials, describe, read, protect, commit, `switch`, verify, rollback, retire
}

/// A cluster's steps in an audit: reading only.
enum AuditStep: String, JournaledStep, CaseIterable {
    case credentials, describe, read
}

struct StepJournal: Sendable {
    let ledger: Ledger
    let runID: String
    let cluster: String
    /// Told of each finished step: its name and how long it took.
    let progress: @Sendable (String, Int) -> Void

    /// Runs `body` as step `name`. One that failed for a passing reason (throttling or a server error the clients'
    /// own retries did not outlast, a reset connection) is tried again, twice at most, after a pause.
    /// The step is journaled as started before it runs, or it does not run (the error is the ledger's); only a step
    /// that puts back what was there (`restores`) runs even when the journal cannot be written.
    func step<T>(_ step: some JournaledStep, restores: Bool = false, _ body: () async throws -> T) async throws -> T {
        let name = step.rawValue
        do {
            try await ledger.journal(run: runID, cluster: cluster, step: name, state: .started)
        } catch  where !restores {
            throw LedgerWriteError.from(error, path: ledger.path) ?? error
        } catch {}
        let started = ContinuousClock.now
        do {
            var attempt = 1
            var value: T
            while true {
                do {
                    value = try await body()
                    break
                } catch  where attempt < 3 && Self.isTransient(error) && !Task.isCancelled {
                    try? await ledger.journal(
                        run: runID, cluster: cluster, step: name, state: .started, detail: "again after: \(error)")
                    try await Task.sleep(for: .milliseconds(500 * attempt))
                    attempt += 1
                }
            }
            let ms = Int((ContinuousClock.now - started).seconds * 1000)
            try? await ledger.journal(run: runID, cluster: cluster, step: name, state: .finished, milliseconds: ms)
            progress(name, ms)
            return value
        } catch {
            let ms = Int((ContinuousClock.now - started).seconds * 1000)
            try? await ledger.journal(
                run: runID, cluster: cluster, step: name, state: .failed, detail: "\(error)", milliseconds: ms)
            if error is StepFailure { throw error }
            throw StepFailure(step: name, cluster: cluster, underlying: error)
        }
    }

    /// Errors that say "not now" rather than "no".
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let aws as AWSError: aws.isRetryable
        case let kube as KubeError:
            [.tooManyRequests, .server, .transport, .timeout].contains(kube.kind) && kube.verb != "wait"
        case let git as GitError: git.kind == .transport
        default: false
        }
    }
}

/// A failed step: which, on which cluster, and why.
public struct StepFailure: FleetError {
    public let step: String
    public let cluster: String
    public let underlying: any Error
    public var description: String { "cluster \(cluster), step \(step): \(underlying)" }
    public var errorClass: String { (underlying as? any FleetError)?.errorClass ?? "\(step).failed" }
    public var hint: String? { (underlying as? any FleetError)?.hint }
}
