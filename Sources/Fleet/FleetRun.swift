// A run over the fleet: clusters in waves, each wave a bounded group of concurrent cluster pipelines whose outcomes
// are journaled; a wave starts only while the failure budget holds; cancellation (Ctrl-C) stops starting clusters
// and records what was left. `--resume` runs the unfinished clusters of a run again: the pipeline is idempotent
// (the writer makes no commit for files already there, applies skip what is in place).
import FleetSupport
import Foundation
import Inventory
import Ledger
import Synchronization

public struct RunSettings: Codable, Sendable, Equatable {
    public var parallel: Int
    /// Cumulative wave sizes (`1`, `10%`, `100%`).
    public var waves: [Rollout.Size]
    /// Failures tolerated before no further wave starts (`5`, `5%`).
    public var maxFailures: Rollout.Size
    public var clusterTimeoutSeconds: Double
    public var dryRun = false

    public init(
        parallel: Int, waves: [Rollout.Size], maxFailures: Rollout.Size, clusterTimeoutSeconds: Double,
        dryRun: Bool = false
    ) {
        (self.parallel, self.waves, self.maxFailures) = (parallel, waves, maxFailures)
        (self.clusterTimeoutSeconds, self.dryRun) = (clusterTimeoutSeconds, dryRun)
    }

    public init(rollout: Rollout) {
        self.init(
            parallel: rollout.parallelism, waves: rollout.waves, maxFailures: rollout.maxFailures,
            clusterTimeoutSeconds: rollout.clusterTimeout.seconds)
    }

    /// Each cluster's wave (0-based), clusters in the order given.
    public func waveIndices(count: Int) -> [Int] {
        var ends = waves.map { $0.count(of: count) }
        if ends.last != count { ends.append(count) }
        var out: [Int] = []
        var wave = 0
        for index in 0..<count {
            while wave < ends.count - 1, index >= ends[wave] { wave += 1 }
            out.append(wave)
        }
        return out
    }

    public func budget(of count: Int) -> Int { maxFailures.count(of: count) }
}

public struct RunSummary: Sendable {
    public var runID: String
    public var outcome: RunRecord.Outcome
    public var succeeded: [String] = []
    public var failed: [(cluster: String, error: String)] = []
    public var notStarted: [String] = []
    /// Why the run stopped when the ledger refused a write (the command then exits 3, as when it cannot start).
    public var ledgerFailure: String?
    /// Clusters in flight when the run was interrupted (Ctrl-C, SIGTERM): `--resume-last` takes them up again.
    public var interrupted: [String] = []
    public var plans: [String: [ClusterAction]] = [:]
}

public enum ProgressEvent: Sendable {
    case waveStarted(index: Int, clusters: Int)
    case clusterStarted(String)
    /// A step finished (shown with --verbose).
    case step(cluster: String, step: String, milliseconds: Int)
    case clusterFinished(ClusterRecord, [ClusterAction])
    case stopped(reason: String)
}

extension RunSummary {
    /// A run stopped: why, in the ledger and to the user (an interruption says so itself), and the clusters of the
    /// waves it will not start counted and recorded as not started (one that failed in an earlier attempt keeps that).
    mutating func recordStop(
        _ reason: RunDriver.StopReason, waves: [[ClusterRecord]], runID: String, ledger: Ledger,
        progress: @Sendable (ProgressEvent) -> Void
    ) async {
        if reason != .interrupted {
            try? await ledger.event(run: runID, level: .error, reason.description)
            progress(.stopped(reason: reason.description))
        }
        for records in waves {
            succeeded += records.filter { $0.status == .succeeded }.map(\.cluster)
            let pending = records.filter { $0.status != .succeeded }
            notStarted += pending.map(\.cluster)
            for var record in pending where record.status != .failed {
                record.status = .notStarted
                try? await ledger.update(record)
            }
        }
    }
}

/// The first write the ledger's disk refused in a run: once set, no further cluster starts.
final class LedgerHealth: Sendable {
    private let failure = Mutex<LedgerWriteError?>(nil)
    let path: String
    init(path: String) { self.path = path }

    var error: LedgerWriteError? { failure.withLock { $0 } }

    /// Notes `error` if it is a storage failure; returns it as one.
    @discardableResult
    func note(_ error: any Error) -> LedgerWriteError? {
        guard let storage = LedgerWriteError.from(error, path: path) else { return nil }
        failure.withLock { if $0 == nil { $0 = storage } }
        return storage
    }

    /// A journal write whose failure stops the run rather than the cluster.
    func journal(_ write: () async throws -> Void) async {
        do { try await write() } catch { note(error) }
    }
}

/// A cluster left alone because the ledger could no longer be written.
struct NotStartedForTheLedger: Error {}

public struct FleetRun: Sendable {
    public let context: FleetContext
    public let settings: RunSettings
    public var now: @Sendable () -> Date = Date.init
    /// The fleet state this run holds, told the run's id once there is one.
    public var lock: RunLock?

    public init(context: FleetContext, settings: RunSettings) {
        self.context = context
        self.settings = settings
    }

    /// A new run over `clusters` (in inventory order).
    public func start(
        command: String, clusters: [Cluster], inventoryPath: String, inventoryDigest: String,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async throws -> RunSummary {
        let id = Self.newRunID(now())
        lock?.attach(runID: id)
        let waves = settings.waveIndices(count: clusters.count)
        let options = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try await context.ledger.begin(
            RunRecord(
                id: id, command: command, inventory: inventoryPath, inventoryDigest: inventoryDigest, options: options,
                startedAt: now(), outcome: .running),
            clusters: zip(clusters, waves).map { cluster, wave in
                ClusterRecord(
                    runId: id, cluster: cluster.name, account: cluster.account, repository: cluster.repository,
                    wave: wave, status: .pending)
            })
        return try await execute(runID: id, clusters: clusters, progress: progress)
    }

    /// Continues a run: clusters that succeeded are left alone, the others run again.
    public func resume(runID: String, clusters: [Cluster], progress: @escaping @Sendable (ProgressEvent) -> Void)
        async throws -> RunSummary
    {
        lock?.attach(runID: runID)
        try await context.ledger.reopen(run: runID)
        try await context.ledger.event(run: runID, "resumed")
        return try await execute(runID: runID, clusters: clusters, progress: progress)
    }

    private func execute(runID: String, clusters: [Cluster], progress: @escaping @Sendable (ProgressEvent) -> Void)
        async throws -> RunSummary
    {
        await context.expect(parallel: settings.parallel)
        let recorded = try await context.ledger.clusters(run: runID)
        let records = Dictionary(uniqueKeysWithValues: recorded.map { ($0.cluster, $0) })
        let byName = Dictionary(uniqueKeysWithValues: clusters.map { ($0.name, $0) })
        var summary = RunSummary(runID: runID, outcome: .running)
        let waveCount = (records.values.map(\.wave).max() ?? -1) + 1
        let health = LedgerHealth(path: context.ledger.path)
        var driver = RunDriver(waves: waveCount, budget: settings.budget(of: records.count))
        let wave = { (index: Int) in records.values.filter { $0.wave == index }.sorted { $0.cluster < $1.cluster } }
        await driver.run(before: RunDriver.WaveResult(cancelled: Task.isCancelled)) { index in
            let todo = wave(index)
            summary.succeeded += todo.filter { $0.status == .succeeded }.map(\.cluster)
            let pending = todo.filter { $0.status != .succeeded }
            var result = RunDriver.WaveResult()
            if !pending.isEmpty {
                progress(.waveStarted(index: index, clusters: pending.count))
                let outcomes = await runWave(
                    runID: runID, records: pending, clusters: byName, health: health, progress: progress)
                for (record, outcome) in outcomes {
                    if outcome.succeeded {
                        summary.succeeded.append(record.cluster)
                        summary.plans[record.cluster] = outcome.actions
                    } else if record.status == .interrupted {
                        summary.interrupted.append(record.cluster)
                    } else if outcome.error is CancellationError || outcome.error is NotStartedForTheLedger
                        || Task.isCancelled && outcome.error != nil
                    {
                        summary.notStarted.append(record.cluster)
                    } else {
                        result.failed += 1
                        summary.failed.append((record.cluster, outcome.error.map { "\($0)" } ?? "failed"))
                    }
                }
            }
            result.cancelled = Task.isCancelled
            result.ledgerFailure = health.error
            return result
        } onStop: { reason, remaining in
            await summary.recordStop(
                reason, waves: remaining.map(wave), runID: runID, ledger: context.ledger, progress: progress)
        }
        summary.ledgerFailure = health.error?.description
        summary.outcome = driver.outcome()
        try? await context.ledger.finish(run: runID, outcome: summary.outcome, at: now())
        await context.saveHostKeys()
        return summary
    }

    /// One wave: at most `parallel` clusters at a time; each returns its outcome, none cancels another. Clusters not
    /// started because of cancellation are recorded so.
    private func runWave(
        runID: String, records: [ClusterRecord], clusters: [String: Cluster], health: LedgerHealth,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async -> [(ClusterRecord, ClusterOutcome)] {
        let run = self
        let unstarted = Mutex<[ClusterRecord]>([])
        let results = await boundedMap(
            records, limit: settings.parallel,
            whenCancelled: { record in
                var record = record
                record.status = .notStarted
                unstarted.withLock { $0.append(record) }
                return (record, ClusterOutcome(cluster: record.cluster, succeeded: false, error: CancellationError()))
            }
        ) { record in
            await run.runCluster(
                runID: runID, record: record, cluster: clusters[record.cluster], health: health, progress: progress)
        }
        // Clusters the interruption kept from starting are recorded as not started.
        for record in unstarted.withLock({ $0 }) { try? await context.ledger.update(record) }
        return results
    }

    private func runCluster(
        runID: String, record: ClusterRecord, cluster: Cluster?, health: LedgerHealth,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async -> (ClusterRecord, ClusterOutcome) {
        var record = record
        if health.error != nil {
            record.status = .notStarted
            try? await context.ledger.update(record)
            return (record, ClusterOutcome(cluster: record.cluster, succeeded: false, error: NotStartedForTheLedger()))
        }
        guard let cluster else {
            record.status = .failed
            record.errorClass = "inventory.cluster"
            record.errorMessage = "the cluster is no longer in the inventory"
            await health.journal { try await context.ledger.update(record) }
            return (
                record,
                ClusterOutcome(cluster: record.cluster, succeeded: false, error: FleetFailure(record.errorMessage!))
            )
        }
        progress(.clusterStarted(record.cluster))
        record.status = .running
        record.startedAt = now()
        record.errorClass = nil
        record.errorMessage = nil
        await health.journal { try await context.ledger.update(record) }
        let name = cluster.name
        let pipeline = ClusterPipeline(context: context, cluster: cluster, runID: runID, dryRun: settings.dryRun) {
            step, ms in
            progress(.step(cluster: name, step: step, milliseconds: ms))
        }
        let timeout = settings.clusterTimeoutSeconds
        var outcome = await withTaskGroup(of: ClusterOutcome?.self) { group in
            group.addTask { await pipeline.run() }
            group.addTask {
                try? await Task.sleep(for: .seconds(timeout))
                // Cancelled is not timed out: the run was interrupted, the cluster's own time had not run out.
                return Task.isCancelled ? await Self.interruptedOutcome(cluster.name) : nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
                ?? ClusterOutcome(
                    cluster: cluster.name, succeeded: false,
                    error: FleetFailure(
                        "did not finish within the cluster timeout of \(DurationText.format(.seconds(timeout)))",
                        errorClass: "timeout"))
        }
        record.status = outcome.succeeded ? .succeeded : .failed
        if !outcome.succeeded, Task.isCancelled {
            // Whatever the pipeline's last error says (a cancelled request, a step cut short), the cluster was
            // interrupted, not failed: it is neither counted against the budget nor reported as a failure.
            record.status = .interrupted
            outcome = await Self.interruptedOutcome(cluster.name, at: context.ledger, runID: runID)
        }
        record.endedAt = now()
        record.revision = outcome.revision ?? record.revision
        record.keyId = outcome.keyID ?? record.keyId
        record.errorClass = outcome.errorClass
        record.errorMessage = outcome.error.map { "\($0)" }
        if let error = outcome.error, let storage = health.note(error) {
            // The cluster failed because its journal could not be written, not for anything of its own.
            record.errorClass = storage.errorClass
            record.errorMessage = storage.description
        }
        // Only the result columns: `step` is the journal's, written as each step began.
        await health.journal { try await context.ledger.finish(cluster: record) }
        progress(.clusterFinished(record, outcome.actions))
        return (record, outcome)
    }

    /// The outcome of a cluster the run's interruption cut short, naming the step it was at when the ledger knows it.
    static func interruptedOutcome(_ cluster: String, at ledger: Ledger? = nil, runID: String? = nil) async
        -> ClusterOutcome
    {
        var step: String?
        if let ledger, let runID { step = try? await ledger.cluster(run: runID, named: cluster)?.step }
        let at = step.map { " at step \($0)" } ?? ""
        return ClusterOutcome(
            cluster: cluster, succeeded: false,
            error: FleetFailure("interrupted\(at); --resume-last takes it up again", errorClass: "interrupted"))
    }

    static func newRunID(_ date: Date) -> String { RunDriver.newRunID(date) }
}
