// `fleetstrap audit`: the fleet's keys and clusters as they are, reading only. Per identity its IAM keys (id, status,
// age, fingerprint); per cluster what `ClusterInspection` reads; findings with severity. Recorded in the ledger as an
// audit run (its clusters and findings), so reports can render it like any other run.
import AWS
import FleetSupport
import Foundation
import Inventory
import Ledger

public struct AuditReport: Sendable {
    public var runID: String
    public var identities: [IdentityKeySet]
    public var clusters: [ClusterState]
    public var findings: [AuditFinding]
    /// Why the audit stopped when the ledger refused a write (the command then exits 3).
    public var ledgerFailure: String?

    public func worst() -> AuditFinding.Severity? { findings.map(\.severity).max() }
}

public struct FleetAudit: Sendable {
    public let context: FleetContext
    public let parallel: Int
    public var now: @Sendable () -> Date = Date.init

    public init(context: FleetContext, parallel: Int) {
        self.context = context
        self.parallel = parallel
    }

    public func run(
        clusters: [Cluster], inventoryPath: String, inventoryDigest: String,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async throws -> AuditReport {
        let runID = RunDriver.newRunID(prefix: "audit", now())
        try await context.ledger.begin(
            RunRecord(
                id: runID, command: "audit", inventory: inventoryPath, inventoryDigest: inventoryDigest, options: "{}",
                startedAt: now(), outcome: .running),
            clusters: clusters.map {
                ClusterRecord(
                    runId: runID, cluster: $0.name, account: $0.account, repository: $0.repository, wave: 0,
                    status: .pending)
            })
        let inventory = context.inventory
        // The identities of the selected clusters.
        let names = Set(clusters.compactMap { inventory.repository(named: $0.repository)?.identity })
        var identities: [IdentityKeySet] = []
        var findings: [AuditFinding] = []
        for identity in inventory.identities where names.contains(identity.name) {
            let (keys, found) = await keySet(identity)
            identities.append(keys)
            findings += found
        }
        let byIdentity = Dictionary(uniqueKeysWithValues: identities.map { ($0.identity, $0) })
        let context = self.context
        let audit = self
        let health = LedgerHealth(path: context.ledger.path)
        // One wave of every cluster, driven as bootstrap and rotate drive theirs.
        var driver = RunDriver(waves: 1, budget: .max)
        var results: [(ClusterState, [AuditFinding])] = []
        await driver.run(before: RunDriver.WaveResult(cancelled: Task.isCancelled)) { _ in
            progress(.waveStarted(index: 0, clusters: clusters.count))
            results = await audit.inspect(clusters, runID: runID, keys: byIdentity, health: health, progress: progress)
            return RunDriver.WaveResult(
                failed: results.filter { $0.0.error != nil }.count, cancelled: Task.isCancelled,
                ledgerFailure: health.error)
        } onStop: { reason, _ in
            if reason != .interrupted {
                try? await context.ledger.event(run: runID, level: .error, "the audit stopped: \(reason.description)")
                progress(.stopped(reason: reason.description))
            }
        }
        findings += results.flatMap(\.1)
        findings += Self.splitIdentities(results.map(\.0), inventory: inventory)
        var report = AuditReport(
            runID: runID, identities: identities, clusters: results.map(\.0),
            findings: findings.sorted { ($0.severity, $0.subject) > ($1.severity, $1.subject) })
        if let failure = health.error {
            report.ledgerFailure = failure.description
            try? await context.ledger.finish(run: runID, outcome: .stopped, at: now())
            return report
        }
        try await context.ledger.record(
            auditKeys: identities.flatMap { set in
                set.keys.map {
                    AuditKeyRecord(
                        runId: runID, identity: set.identity, iamUser: set.iamUser, keyId: $0.keyID, status: $0.status,
                        uploadedAt: $0.uploaded, fingerprint: $0.fingerprint)
                }
            })
        try await context.ledger.record(
            findings: report.findings.map {
                FindingRecord(
                    runId: runID, severity: $0.severity, code: $0.code.rawValue, subject: $0.subject,
                    cluster: $0.cluster, identity: $0.identity, message: $0.message)
            })
        let outcome = driver.outcome()
        try await context.ledger.finish(run: runID, outcome: outcome, at: now())
        return report
    }

    /// Every cluster read, at most `parallel` at a time, each recorded as it ends; none starts once the ledger refused
    /// a write.
    private func inspect(
        _ clusters: [Cluster], runID: String, keys byIdentity: [String: IdentityKeySet], health: LedgerHealth,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async -> [(ClusterState, [AuditFinding])] {
        let context = self.context
        let inventory = context.inventory
        let audit = self
        return await boundedMap(
            clusters, limit: parallel,
            whenCancelled: { cluster in
                (
                    ClusterState(
                        cluster: cluster.name, account: cluster.account, region: cluster.region,
                        repository: cluster.repository, labels: cluster.labels, error: "interrupted"), []
                )
            }
        ) { cluster in
            guard health.error == nil else {
                return (
                    ClusterState(
                        cluster: cluster.name, account: cluster.account, region: cluster.region,
                        repository: cluster.repository,
                        labels: cluster.labels, error: "not read: the ledger could not be written"), []
                )
            }
            progress(.clusterStarted(cluster.name))
            let identity = inventory.repository(named: cluster.repository)?.identity
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in
                progress(.step(cluster: cluster.name, step: step, milliseconds: ms))
            }
            let result = await ClusterInspection(
                context: context, cluster: cluster, keys: identity.flatMap { byIdentity[$0] }, journal: journal
            ).inspect()
            // Cut short by Ctrl-C or SIGTERM, a cluster is interrupted, not failed.
            let status: ClusterRecord.Status =
                result.0.error == nil ? .succeeded : Task.isCancelled ? .interrupted : .failed
            var record = ClusterRecord(
                runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository, wave: 0,
                status: status)
            record.keyId = result.0.keyID
            record.revision = result.0.revision
            record.errorMessage = result.0.error ?? result.1.map { "\($0.code.rawValue): \($0.message)" }.first
            record.errorClass = result.0.error != nil ? "audit.unreachable" : result.1.map(\.code.rawValue).first
            record.endedAt = audit.now()
            await health.journal { try await context.ledger.finish(cluster: record) }
            progress(.clusterFinished(record, []))
            return result
        }
    }

    /// One finding per identity whose clusters fetch with different keys (clusters whose key could not be read are
    /// left out: they have findings of their own).
    static func splitIdentities(_ clusters: [ClusterState], inventory: Inventory) -> [AuditFinding] {
        var keysByIdentity: [String: [String: [String]]] = [:]
        for cluster in clusters {
            guard let key = cluster.keyID, let repository = inventory.repository(named: cluster.repository),
                repository.transport == .ssh, let identity = repository.identity
            else { continue }
            keysByIdentity[identity, default: [:]][key, default: []].append(cluster.cluster)
        }
        return keysByIdentity.sorted { $0.key < $1.key }.compactMap { identity, byKey in
            guard byKey.count > 1 else { return nil }
            let parts = byKey.sorted { $0.key < $1.key }.map { key, clusters in
                "\(key) on \(clusters.count) cluster\(clusters.count == 1 ? "" : "s") "
                    + "(\(clusters.sorted().prefix(3).joined(separator: ", "))\(clusters.count > 3 ? ", …" : ""))"
            }
            return AuditFinding(
                .identitySplit, identity: identity,
                "the clusters of identity \(identity) use \(byKey.count) different keys: "
                    + "\(parts.joined(separator: "; ")); "
                    + "finish the rotation under way (rotate --resume-last) so that they share one")
        }
    }

    /// An identity's IAM keys with fingerprints, and the identity's own findings (age, the limit of five).
    private func keySet(_ identity: Identity) async -> (IdentityKeySet, [AuditFinding]) {
        var set = IdentityKeySet(
            identity: identity.name, account: identity.account, iamUser: identity.iamUser,
            maxKeyAgeDays: identity.maxKeyAge.map { $0.seconds / 86_400 }, keys: [])
        var findings: [AuditFinding] = []
        do {
            let region = context.inventory.account(named: identity.account)?.region ?? "us-east-1"
            let credentials = try await context.credentials(account: identity.account, region: region)
            let iam = IAMClient(client: context.aws)
            for key in try await iam.listSSHPublicKeys(
                userName: identity.iamUser, credentials: credentials, account: identity.account)
            {
                let full = try await iam.getSSHPublicKey(
                    userName: identity.iamUser, keyID: key.keyID, credentials: credentials, account: identity.account)
                set.keys.append(
                    IdentityKeySet.Key(
                        keyID: key.keyID, status: key.status.rawValue, uploaded: key.uploadDate,
                        ageDays: key.uploadDate.map { now().timeIntervalSince($0) / 86_400 },
                        fingerprint: full.fingerprint))
            }
        } catch {
            set.error = "\(error)"
            findings.append(
                AuditFinding(
                    .unreachable, identity: identity.name, "cannot read the IAM keys of \(identity.iamUser): \(error)"))
            return (set, findings)
        }
        if let limit = identity.maxKeyAge?.seconds {
            for key in set.keys where key.status == "Active" {
                guard let uploaded = key.uploaded, now().timeIntervalSince(uploaded) > limit else { continue }
                findings.append(
                    AuditFinding(
                        .keyTooOld, identity: identity.name,
                        "Active key \(key.keyID) of \(identity.iamUser) is "
                            + "\(DurationText.age(seconds: now().timeIntervalSince(uploaded))) old, older than "
                            + "maxKeyAge \(DurationText.age(seconds: limit)): fleetstrap rotate --identity "
                            + "\(identity.name)"
                    ))
            }
        }
        let active = set.keys.filter { $0.status == "Active" }
        if active.count > 1 {
            findings.append(
                AuditFinding(
                    .multipleActiveKeys, identity: identity.name,
                    "IAM user \(identity.iamUser) has \(active.count) Active SSH keys "
                        + "(\(active.map(\.keyID).joined(separator: ", "))): "
                        + "a rotation is under way or was left half-way; finish it (rotate --resume-last) or make the "
                        + "unused keys Inactive"
                ))
        }
        if set.keys.count >= CredentialHolder.identity(identity).limit {
            findings.append(
                AuditFinding(
                    .keyLimit, identity: identity.name,
                    "IAM user \(identity.iamUser) has \(set.keys.count) SSH keys, IAM's limit: a rotation needs one "
                        + "deleted first (rotate --prune-inactive)"
                ))
        }
        return (set, findings)
    }
}
