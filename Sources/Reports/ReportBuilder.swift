// A report from one run of a ledger, or from several (the ledgers of a sharded run) as one. Per cluster the steps
// are folded from the journal: a step's attempts, its final state, its time.
import Foundation
import Ledger

public enum ReportBuilder {
    /// Where a cluster runs and its labels, from the inventory when it can still be read (the ledger has neither).
    public struct Placement: Sendable {
        public var region: String
        public var labels: [String: String]
        public init(region: String, labels: [String: String]) { (self.region, self.labels) = (region, labels) }
    }

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    public static func build(
        _ sources: [(ledger: Ledger, run: String)], placements: [String: Placement] = [:], now: Date = Date()
    ) async throws -> RunReport {
        var runs: [RunReport.Run] = []
        var clusters: [RunReport.Cluster] = []
        var events: [RunReport.Event] = []
        var rotations: [RunReport.Rotation] = []
        var findings: [RunReport.Finding] = []
        var keys: [RunReport.Key] = []
        for (ledger, id) in sources {
            guard let run = try await ledger.run(id) else {
                throw Missing(description: "no run \(id) in \(ledger.path)")
            }
            runs.append(
                RunReport.Run(
                    id: run.id, command: run.command, inventory: run.inventory, outcome: run.outcome.rawValue,
                    startedAt: run.startedAt, endedAt: run.endedAt,
                    seconds: run.endedAt.map { $0.timeIntervalSince(run.startedAt) }))
            let steps = Dictionary(grouping: try await ledger.steps(run: id), by: \.cluster)
            for record in try await ledger.clusters(run: id) {
                let placement = placements[record.cluster]
                clusters.append(
                    RunReport.Cluster(
                        name: record.cluster, account: record.account, region: placement?.region,
                        repository: record.repository, labels: placement?.labels ?? [:],
                        wave: record.wave, status: record.status.rawValue, step: record.step, revision: record.revision,
                        keyId: record.keyId,
                        errorClass: record.errorClass, errorMessage: record.errorMessage, startedAt: record.startedAt,
                        endedAt: record.endedAt,
                        seconds: zip(record.startedAt, record.endedAt).map { $1.timeIntervalSince($0) },
                        steps: fold(steps[record.cluster] ?? [])))
            }
            events += try await ledger.events(run: id).map {
                RunReport.Event(at: $0.at, level: $0.level, cluster: $0.cluster, message: $0.message)
            }
            rotations += try await ledger.rotations(run: id).map {
                RunReport.Rotation(
                    holder: $0.identity, kind: $0.kind, iamUser: $0.iamUser, oldKeys: $0.oldKeys, newKey: $0.newKeyId,
                    state: $0.state.rawValue, detail: $0.detail)
            }
            keys += try await ledger.auditKeys(run: id).map {
                RunReport.Key(
                    identity: $0.identity, iamUser: $0.iamUser, keyId: $0.keyId, status: $0.status,
                    uploadedAt: $0.uploadedAt,
                    ageDays: $0.uploadedAt.map { uploaded in
                        ((run.startedAt.timeIntervalSince(uploaded)) / 86_400 * 100).rounded() / 100
                    }, fingerprint: $0.fingerprint)
            }
            findings += try await ledger.findings(run: id).map {
                RunReport.Finding(
                    severity: $0.severity, code: $0.code, subject: $0.subject, cluster: $0.cluster,
                    identity: $0.identity, message: $0.message)
            }
        }
        var summary = RunReport.Summary()
        summary.clusters = clusters.count
        for cluster in clusters {
            switch cluster.status {
            case "succeeded": summary.succeeded += 1
            case "failed": summary.failed += 1
            case "notStarted": summary.notStarted += 1
            case "interrupted": summary.interrupted += 1
            default: summary.pending += 1
            }
        }
        summary.waves = (clusters.map(\.wave).max() ?? -1) + 1
        for finding in findings { summary.findings[finding.severity.rawValue, default: 0] += 1 }
        return RunReport(
            generatedAt: now, runs: runs, summary: summary, clusters: clusters, events: events.sorted { $0.at < $1.at },
            rotations: rotations, keys: keys, findings: findings)
    }

    /// The journal's rows of one cluster, one entry per step: its last state, time, and how often it began.
    static func fold(_ rows: [StepRecord]) -> [RunReport.Step] {
        var order: [String] = []
        var folded: [String: RunReport.Step] = [:]
        for row in rows {
            if folded[row.step] == nil {
                order.append(row.step)
                folded[row.step] = RunReport.Step(
                    name: row.step, state: row.state.rawValue, startedAt: row.at, milliseconds: nil, attempts: 0,
                    detail: nil)
            }
            if row.state == .started { folded[row.step]!.attempts += 1 }
            folded[row.step]!.state = row.state.rawValue
            if let ms = row.milliseconds { folded[row.step]!.milliseconds = ms }
            if row.state == .failed { folded[row.step]!.detail = row.detail }
        }
        return order.compactMap { folded[$0] }
    }
}

private func zip(_ a: Date?, _ b: Date?) -> (Date, Date)? {
    guard let a, let b else { return nil }
    return (a, b)
}
