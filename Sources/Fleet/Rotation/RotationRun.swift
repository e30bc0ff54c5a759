// `fleetstrap rotate`: a new SSH key per identity, switched to on every cluster that uses it, in waves, with no
// moment where a cluster has no working key. Per identity: the new key is uploaded while the old stays Active; per
// wave, each cluster's secret is protected, gotk-sync.yaml gets the new URL in one commit per repository, then each
// cluster switches and is verified (a failed one is rolled back, its old URL committed back); only when every
// cluster of the identity fetches with the new key are the old keys made Inactive. Otherwise the identity is
// "partially rotated" and a later `rotate` (or `--resume`) continues with the same new key.
import AWS
import FleetSupport
import Foundation
import Git
import Inventory
import Ledger

public struct IdentityOutcome: Sendable, Equatable {
    public enum State: String, Sendable, Codable {
        /// Every cluster switched and verified; the old keys are Inactive.
        case rotated
        /// Some clusters are not switched: the old keys stay Active.
        case partial
        /// The key is younger than --older-than.
        case skipped
        /// Nothing was done (IAM's key limit, no passphrase…).
        case refused
        /// A dry run: what would be done.
        case planned
    }
    public var identity: String
    public var iamUser: String
    public var state: State
    public var oldKeys: [String]
    public var newKey: String?
    public var clusters: Int
    public var message: String
}

public struct RotationSummary: Sendable {
    public var run: RunSummary
    public var identities: [IdentityOutcome]
}

public struct RotationRun: Sendable {
    public let context: FleetContext
    public let settings: RunSettings
    public let rotation: RotationSettings
    public var now: @Sendable () -> Date = Date.init

    public init(context: FleetContext, settings: RunSettings, rotation: RotationSettings) {
        self.context = context
        self.settings = settings
        self.rotation = rotation
    }

    /// An identity taking part in the run.
    struct Member: Sendable {
        let identity: Identity
        let accountID: String
        var record: RotationRecord
        var key: SSHKeyMaterial
        let clusters: [Cluster]
    }

    /// The SSH identities of `clusters` (those reached over SSH), in inventory order, with their clusters.
    func identities(of clusters: [Cluster]) throws -> [(Identity, [Cluster])] {
        let inventory = context.inventory
        var out: [(Identity, [Cluster])] = []
        for identity in inventory.identities where rotation.identities.isEmpty || rotation.identities.contains(identity.name) {
            let mine = clusters.filter { cluster in
                guard let repository = inventory.repository(named: cluster.repository) else { return false }
                return repository.transport == .ssh && repository.identity == identity.name
            }
            if !mine.isEmpty { out.append((identity, mine)) }
        }
        for name in rotation.identities where inventory.identity(named: name) == nil {
            let suggestion = Suggestion.closest(to: name, in: inventory.identities.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
            throw FleetFailure("--identity \(name): no such identity in the inventory\(suggestion)", errorClass: "inventory.identity")
        }
        return out
    }

    /// Rotates the identities of `clusters`; a dry run says what it would do and changes nothing.
    public func start(clusters: [Cluster], inventoryPath: String, inventoryDigest: String, dryRun: Bool, progress: @escaping @Sendable (ProgressEvent) -> Void) async throws -> RotationSummary {
        let candidates = try identities(of: clusters)
        let runID = FleetRun.newRunID(now())
        var outcomes: [IdentityOutcome] = []
        var plans: [(Identity, String, [Cluster], RotationRecord?, [IAMClient.SSHPublicKey])] = []
        // Decide from IAM and the ledger, reading only.
        for (identity, members) in candidates {
            guard let accountID = context.inventory.account(named: identity.account)?.id else { continue }
            let keys = IdentityKeys(context: context, identity: identity, accountID: accountID, settings: rotation, now: now())
            let base = IdentityOutcome(identity: identity.name, iamUser: identity.iamUser, state: .planned, oldKeys: [], newKey: nil, clusters: members.count, message: "")
            do {
                let iamKeys = try await keys.list()
                let unfinished = try context.ledger.unfinishedRotation(identity: identity.name, kind: "ssh")
                if let unfinished, iamKeys.contains(where: { $0.keyID == unfinished.newKeyId && $0.status == .active }) {
                    plans.append((identity, accountID, members, unfinished, iamKeys))
                    continue
                }
                let current = IdentityKeys.current(iamKeys)
                if let limit = rotation.olderThanSeconds, let uploaded = current?.uploadDate, now().timeIntervalSince(uploaded) < limit {
                    var outcome = base
                    outcome.state = .skipped
                    outcome.oldKeys = current.map { [$0.keyID] } ?? []
                    outcome.message = "key \(current!.keyID) is \(DurationText.age(seconds: now().timeIntervalSince(uploaded))) old, younger than --older-than \(DurationText.age(seconds: limit))"
                    outcomes.append(outcome)
                    continue
                }
                guard current != nil else {
                    var outcome = base
                    outcome.state = .skipped
                    outcome.message = "IAM user \(identity.iamUser) has no Active SSH key: nothing to rotate (bootstrap makes one)"
                    outcomes.append(outcome)
                    continue
                }
                plans.append((identity, accountID, members, nil, iamKeys))
            } catch {
                var outcome = base
                outcome.state = .refused
                outcome.message = "\(error)"
                outcomes.append(outcome)
            }
        }
        if dryRun {
            for (identity, _, members, unfinished, iamKeys) in plans {
                let usedBy = try usage(members)
                var outcome = IdentityOutcome(
                    identity: identity.name, iamUser: identity.iamUser, state: .planned, oldKeys: iamKeys.filter { $0.status == .active && $0.keyID != unfinished?.newKeyId }.map(\.keyID),
                    newKey: unfinished?.newKeyId, clusters: members.count, message: "")
                if let unfinished {
                    outcome.message = "would continue the partial rotation to \(unfinished.newKeyId) (run \(unfinished.runId)) on \(members.count) clusters"
                } else if let refusal = IdentityKeys.refusal(iamKeys.filter { key in !(key.status == .inactive && rotation.pruneInactive && (usedBy[key.keyID] ?? []).isEmpty) }, identity: identity, usedBy: usedBy) {
                    outcome.state = .refused
                    outcome.message = refusal
                } else {
                    outcome.message = "would upload a new \(identity.keyBits)-bit key and switch \(members.count) clusters to it, then make \(outcome.oldKeys.joined(separator: ", ")) Inactive"
                }
                outcomes.append(outcome)
            }
            return RotationSummary(run: RunSummary(runID: "", outcome: .succeeded), identities: outcomes.sorted { $0.identity < $1.identity })
        }

        let all = plans.flatMap(\.2)
        let waves = settings.waveIndices(count: all.count)
        let options = String(decoding: try JSONEncoder().encode(RotateOptions(run: settings, rotation: rotation)), as: UTF8.self)
        try context.ledger.begin(
            RunRecord(id: runID, command: "rotate", inventory: inventoryPath, inventoryDigest: inventoryDigest, options: options, startedAt: now(), outcome: .running),
            clusters: zip(all, waves).map { cluster, wave in
                ClusterRecord(runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository, wave: wave, status: .pending)
            })
        for outcome in outcomes { try? context.ledger.event(run: runID, level: outcome.state == .refused ? "error" : "info", "identity \(outcome.identity): \(outcome.state.rawValue): \(outcome.message)") }

        // Keys: deleted where safe, then a new one per identity (or the partial rotation's), recorded before use.
        var members: [Member] = []
        for (identity, accountID, clusters, unfinished, iamKeys) in plans {
            do {
                members.append(try await prepare(identity, accountID: accountID, clusters: clusters, unfinished: unfinished, iamKeys: iamKeys, runID: runID))
            } catch {
                outcomes.append(IdentityOutcome(identity: identity.name, iamUser: identity.iamUser, state: .refused, oldKeys: [], newKey: nil, clusters: clusters.count, message: "\(error)"))
                try? context.ledger.event(run: runID, level: "error", "identity \(identity.name): refused: \(error)")
                for cluster in clusters {
                    var record = ClusterRecord(runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository, wave: 0, status: .notStarted)
                    record.wave = zip(all, waves).first { $0.0.name == cluster.name }?.1 ?? 0
                    record.errorClass = "rotate.refused"
                    record.errorMessage = "identity \(identity.name): \(error)"
                    try? context.ledger.update(record)
                }
            }
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, progress: progress)
    }

    /// Continues a rotate run: its identities with their new keys, its clusters not switched yet.
    public func resume(runID: String, progress: @escaping @Sendable (ProgressEvent) -> Void) async throws -> RotationSummary {
        try context.ledger.reopen(run: runID)
        try context.ledger.event(run: runID, "resumed")
        let records = try context.ledger.rotations(run: runID)
        let clusterRecords = try context.ledger.clusters(run: runID)
        var members: [Member] = []
        var outcomes: [IdentityOutcome] = []
        for var record in records {
            guard let identity = context.inventory.identity(named: record.identity), let accountID = context.inventory.account(named: identity.account)?.id else {
                throw FleetFailure("identity \(record.identity) of run \(runID) is no longer in the inventory", errorClass: "inventory.identity")
            }
            let clusters = clusterRecords.compactMap { context.inventory.cluster(named: $0.cluster) }.filter { cluster in
                context.inventory.repository(named: cluster.repository)?.identity == identity.name
            }
            if record.state == .retired {
                outcomes.append(IdentityOutcome(identity: identity.name, iamUser: identity.iamUser, state: .rotated, oldKeys: record.oldKeys, newKey: record.newKeyId, clusters: clusters.count, message: "rotated earlier in this run"))
                continue
            }
            if record.newKeyId.isEmpty {
                // Killed before the key was recorded: start this identity's key again.
                let keys = IdentityKeys(context: context, identity: identity, accountID: accountID, settings: rotation, now: now())
                members.append(try await prepare(identity, accountID: accountID, clusters: clusters, unfinished: nil, iamKeys: try await keys.list(), runID: runID))
                continue
            }
            record.state = .switching
            members.append(Member(identity: identity, accountID: accountID, record: record, key: try await context.keys.material(keyID: record.newKeyId, for: identity, accountID: accountID), clusters: clusters))
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, progress: progress)
    }

    /// Clusters last known (from the ledger) to use each key.
    private func usage(_ clusters: [Cluster]) throws -> [String: [String]] {
        var usedBy: [String: [String]] = [:]
        for (cluster, key) in try context.ledger.lastKeys(clusters: clusters.map(\.name)) { usedBy[key, default: []].append(cluster) }
        return usedBy
    }

    private func prepare(_ identity: Identity, accountID: String, clusters: [Cluster], unfinished: RotationRecord?, iamKeys: [IAMClient.SSHPublicKey], runID: String) async throws -> Member {
        if let unfinished {
            var record = unfinished
            record.runId = runID
            record.state = .switching
            record.startedAt = now()
            try context.ledger.record(rotation: record)
            try? context.ledger.event(run: runID, "identity \(identity.name): continuing the partial rotation to \(unfinished.newKeyId) of run \(unfinished.runId)")
            return Member(identity: identity, accountID: accountID, record: record, key: try await context.keys.material(keyID: unfinished.newKeyId, for: identity, accountID: accountID), clusters: clusters)
        }
        let keys = IdentityKeys(context: context, identity: identity, accountID: accountID, settings: rotation, now: now())
        let usedBy = try usage(clusters)
        let deleted = try await keys.deleteRetired(iamKeys, usedBy: usedBy, runID: runID)
        let remaining = iamKeys.filter { !deleted.contains($0.keyID) }
        if let refusal = IdentityKeys.refusal(remaining, identity: identity, usedBy: usedBy) { throw FleetFailure(refusal, errorClass: "rotate.key-limit") }
        let old = remaining.filter { $0.status == .active }.map(\.keyID)
        // Recorded before the upload: a run killed in between finds the key by its date (see resume).
        var record = RotationRecord(
            runId: runID, identity: identity.name, kind: "ssh", account: accountID, iamUser: identity.iamUser, oldKeyIds: old, newKeyId: "", newFingerprint: nil,
            state: .switching, startedAt: now())
        try context.ledger.record(rotation: record)
        let key = try await keys.upload(runID: runID)
        record.newKeyId = key.keyID
        record.newFingerprint = key.fingerprint
        try context.ledger.record(rotation: record)
        try? context.ledger.event(run: runID, "identity \(identity.name): new SSH key \(key.keyID) (\(key.fingerprint)); \(old.joined(separator: ", ")) stay Active until every cluster is switched")
        return Member(identity: identity, accountID: accountID, record: record, key: key, clusters: clusters)
    }

    // MARK: Waves

    private struct Switched: Sendable {
        var record: ClusterRecord
        var error: (any Error)?
        var before: ClusterKeySwitch.Before?
        /// The GitRepository was switched (so a failure needs a rollback).
        var touched = false
    }

    private func execute(runID: String, members: [Member], earlier: [IdentityOutcome], progress: @escaping @Sendable (ProgressEvent) -> Void) async throws -> RotationSummary {
        let byCluster = Dictionary(uniqueKeysWithValues: members.flatMap { member in member.clusters.map { ($0.name, member) } })
        let records = try context.ledger.clusters(run: runID).filter { byCluster[$0.cluster] != nil }
        var summary = RunSummary(runID: runID, outcome: .running)
        let budget = settings.budget(of: records.count)
        var failures = 0
        var stopReason: String?
        let waveCount = (records.map(\.wave).max() ?? -1) + 1
        for wave in 0..<waveCount {
            let todo = records.filter { $0.wave == wave }
            summary.succeeded += todo.filter { $0.status == .succeeded }.map(\.cluster)
            let pending = todo.filter { $0.status != .succeeded }
            if stopReason != nil || Task.isCancelled {
                summary.notStarted += pending.map(\.cluster)
                for var record in pending {
                    record.status = .notStarted
                    try? context.ledger.update(record)
                }
                continue
            }
            guard !pending.isEmpty else { continue }
            progress(.waveStarted(index: wave, clusters: pending.count))
            for result in await runWave(runID: runID, records: pending, members: byCluster, progress: progress) {
                switch result.record.status {
                case .succeeded: summary.succeeded.append(result.record.cluster)
                case .notStarted: summary.notStarted.append(result.record.cluster)
                default:
                    failures += 1
                    summary.failed.append((result.record.cluster, result.record.errorMessage ?? "failed"))
                }
            }
            if Task.isCancelled { stopReason = "interrupted" }
            if failures > budget, wave < waveCount - 1 {
                stopReason = "\(failures) clusters failed, more than the budget of \(budget): no further wave starts"
                try? context.ledger.event(run: runID, level: "error", stopReason!)
                progress(.stopped(reason: stopReason!))
            }
        }
        var outcomes = earlier
        for member in members { outcomes.append(await finish(member, runID: runID, progress: progress)) }
        let identityFailed = outcomes.contains { $0.state == .refused || $0.state == .partial }
        summary.outcome = Task.isCancelled ? .interrupted : stopReason != nil ? .stopped : summary.failed.isEmpty && !identityFailed ? .succeeded : .failed
        try? context.ledger.finish(run: runID, outcome: summary.outcome, at: now())
        context.saveHostKeys()
        return RotationSummary(run: summary, identities: outcomes.sorted { $0.identity < $1.identity })
    }

    /// One wave in three phases: protect (every cluster), one commit per repository with the new URLs, then switch
    /// and verify (every cluster); the failed ones are rolled back, their old URLs in one commit per repository.
    private func runWave(runID: String, records: [ClusterRecord], members: [String: Member], progress: @escaping @Sendable (ProgressEvent) -> Void) async -> [Switched] {
        let run = self
        let parallel = settings.parallel
        let context = self.context
        let switcher: @Sendable (ClusterRecord) -> ClusterKeySwitch? = { record in
            guard let member = members[record.cluster], let cluster = member.clusters.first(where: { $0.name == record.cluster }),
                let repository = context.inventory.repository(named: cluster.repository)
            else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in progress(.step(cluster: cluster.name, step: step, milliseconds: ms)) }
            return ClusterKeySwitch(context: context, cluster: cluster, repository: repository, newKey: member.key, journal: journal)
        }
        // Phase 1: protect.
        var states: [Switched] = await boundedMap(records, limit: parallel, whenCancelled: { Switched(record: Self.notStarted($0)) }) { record in
            var state = Switched(record: record)
            guard let switcher = switcher(record) else {
                state.error = FleetFailure("the cluster is no longer in the inventory", errorClass: "inventory.cluster")
                return state
            }
            progress(.clusterStarted(record.cluster))
            state.record.status = .running
            state.record.startedAt = run.now()
            try? run.context.ledger.update(state.record)
            do { state.before = try await switcher.protect() } catch { state.error = error }
            return state
        }
        // Phase 2: the new URLs, one commit per repository.
        let ready = states.indices.filter { states[$0].error == nil && states[$0].before != nil }
        var revisions: [Int: (String, RepositoryWriter)] = [:]
        for (_, indices) in Dictionary(grouping: ready, by: { states[$0].record.repository }) {
            guard let first = switcher(states[indices[0]].record) else { continue }
            do {
                let writer = try await writer(for: first)
                let receipts = try await StepJournal(ledger: context.ledger, runID: runID, cluster: first.cluster.name, progress: { _, _ in }).step("commit") {
                    try await writer.submit(
                        indices.compactMap { index in switcher(states[index].record).map { $0.syncFile(url: $0.newURL) } },
                        message: "Rotate the SSH key of \(first.repository.identity ?? "the fleet") to \(first.newKey.keyID)")
                }
                for (index, receipt) in zip(indices, receipts) { revisions[index] = ("\(first.repository.branch)@sha1:\(receipt.commit.hex)", writer) }
            } catch {
                for index in indices { states[index].error = error }
            }
        }
        // Phase 3: switch and verify.
        let phase2 = states
        let committed = revisions
        states = await boundedMap(Array(states.indices), limit: parallel, whenCancelled: { Switched(record: Self.notStarted(phase2[$0].record)) }) { index in
            var state = phase2[index]
            guard state.error == nil, let before = state.before, let (revision, writer) = committed[index], let switcher = switcher(state.record) else { return state }
            do {
                state.touched = !before.switched
                state.record.revision = try await switcher.switchAndVerify(before, revision: revision, writer: writer)
                state.record.keyId = switcher.newKey.keyID
            } catch {
                state.error = error
            }
            return state
        }
        // Rollback of the clusters that failed after their switch.
        if rotation.rollback {
            let failed = states.indices.filter { states[$0].error != nil && states[$0].touched }
            for (_, indices) in Dictionary(grouping: failed, by: { states[$0].record.repository }) {
                guard let first = switcher(states[indices[0]].record) else { continue }
                var revision: String?
                var writer: RepositoryWriter?
                do {
                    let w = try await self.writer(for: first)
                    writer = w
                    let receipts = try await w.submit(
                        indices.compactMap { index in states[index].before.flatMap { switcher(states[index].record)?.syncFile(url: $0.url) } },
                        message: "Roll back the SSH key of \(indices.count) cluster\(indices.count == 1 ? "" : "s") to the previous key")
                    revision = receipts.first.map { "\(first.repository.branch)@sha1:\($0.commit.hex)" }
                } catch {
                    try? context.ledger.event(run: runID, level: "error", "rollback commit to \(first.repository.name) failed: \(error)")
                }
                let snapshot = states
                let (rollbackRevision, rollbackWriter) = (revision, writer)
                let rolled: [(Int, String)] = await boundedMap(indices, limit: parallel, whenCancelled: { ($0, "not rolled back: interrupted") }) { index in
                    guard let before = snapshot[index].before, let switcher = switcher(snapshot[index].record), let writer = rollbackWriter else { return (index, "not rolled back: the rollback commit failed") }
                    do {
                        try await switcher.rollBack(before, revision: rollbackRevision, writer: writer)
                        return (index, "rolled back to key \(before.oldKeyID ?? "?"), which works")
                    } catch {
                        return (index, "rollback failed too: \(error)")
                    }
                }
                for (index, note) in rolled { states[index].record.errorMessage = note }
            }
        }
        // Results.
        return states.map { state in
            var state = state
            guard state.record.status != .notStarted else { return state }
            state.record.endedAt = now()
            if let error = state.error {
                let rollbackNote = state.record.errorMessage
                state.record.status = .failed
                state.record.errorClass = (error as? any FleetError)?.errorClass ?? String(describing: type(of: error))
                state.record.errorMessage = "\(error)" + (state.touched && rollbackNote != nil ? "; \(rollbackNote!)" : state.touched ? "; left as it is (--no-rollback)" : "")
            } else {
                state.record.status = .succeeded
                state.record.errorClass = nil
                state.record.errorMessage = nil
            }
            try? context.ledger.finish(cluster: state.record)
            progress(.clusterFinished(state.record, ClusterActions()))
            return state
        }
    }

    private static func notStarted(_ record: ClusterRecord) -> ClusterRecord {
        var record = record
        record.status = .notStarted
        return record
    }

    private func writer(for switcher: ClusterKeySwitch) async throws -> RepositoryWriter {
        let repository = switcher.repository
        let key = switcher.newKey
        let remote = GitRemote(
            url: repository.url(sshUser: key.keyID), authentication: .sshKey(privateKeyPEM: key.privateKeyPEM, passphrase: key.passphrase),
            trust: GitTrust(caPEM: context.caBundle, hostKeys: context.hostKeys))
        return try await context.writers.writer(key: "\(repository.account)-\(repository.name)-\(key.keyID)", remote: remote, branch: repository.branch)
    }

    // MARK: Finish

    /// Retires the old keys when every cluster of the identity (in the whole inventory) fetches with the new one.
    private func finish(_ member: Member, runID: String, progress: @escaping @Sendable (ProgressEvent) -> Void) async -> IdentityOutcome {
        var record = member.record
        var outcome = IdentityOutcome(
            identity: member.identity.name, iamUser: member.identity.iamUser, state: .partial, oldKeys: record.oldKeys, newKey: record.newKeyId,
            clusters: member.clusters.count, message: "")
        let results = Dictionary(uniqueKeysWithValues: ((try? context.ledger.clusters(run: runID)) ?? []).map { ($0.cluster, $0) })
        let notSwitched = member.clusters.filter { results[$0.name]?.status != .succeeded }.map(\.name)
        // Clusters of the identity outside this run's selection must be on the new key too.
        let inRun = Set(member.clusters.map(\.name))
        let others = context.inventory.clusters.filter { cluster in
            !inRun.contains(cluster.name) && context.inventory.repository(named: cluster.repository).map { $0.transport == .ssh && $0.identity == member.identity.name } == true
        }
        var outside: [String] = []
        for cluster in others {
            guard let repository = context.inventory.repository(named: cluster.repository) else { continue }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { _, _ in }
            let check = ClusterKeySwitch(context: context, cluster: cluster, repository: repository, newKey: member.key, journal: journal)
            if (try? await check.currentKeyID()) != member.key.keyID { outside.append(cluster.name) }
        }
        if !notSwitched.isEmpty || !outside.isEmpty || Task.isCancelled {
            var reasons: [String] = []
            if !notSwitched.isEmpty { reasons.append("\(notSwitched.count) of \(member.clusters.count) clusters not switched (\(notSwitched.prefix(5).joined(separator: ", "))\(notSwitched.count > 5 ? ", …" : ""))") }
            if !outside.isEmpty { reasons.append("\(outside.count) clusters of the identity outside this run still use another key (\(outside.prefix(5).joined(separator: ", ")))") }
            record.state = .partial
            record.detail = reasons.joined(separator: "; ")
            outcome.message = "partially rotated: \(record.detail!); \(record.oldKeys.joined(separator: ", ")) stay Active; `fleetstrap rotate --resume \(runID)` finishes it"
            try? context.ledger.record(rotation: record)
            try? context.ledger.event(run: runID, level: "warning", "identity \(member.identity.name): \(outcome.message)")
            return outcome
        }
        // Every cluster fetches with the new key: the previous secrets go, then the old keys.
        let keys = IdentityKeys(context: context, identity: member.identity, accountID: member.accountID, settings: rotation, now: now())
        let retired: [String?] = await boundedMap(member.clusters, limit: settings.parallel, whenCancelled: { "\($0.name): interrupted" }) { cluster in
            guard let repository = context.inventory.repository(named: cluster.repository) else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in progress(.step(cluster: cluster.name, step: step, milliseconds: ms)) }
            do {
                try await ClusterKeySwitch(context: context, cluster: cluster, repository: repository, newKey: member.key, journal: journal).retire(nil)
                return nil
            } catch {
                return "\(cluster.name): \(error)"
            }
        }
        for problem in retired.compactMap({ $0 }) {
            try? context.ledger.event(run: runID, level: "warning", "could not delete Secret flux-system-previous on \(problem) (harmless; delete it by hand)")
        }
        do {
            try await keys.retire(record.oldKeys, runID: runID)
        } catch {
            record.state = .partial
            record.detail = "every cluster is switched, but the old keys could not be made Inactive: \(error)"
            outcome.message = record.detail! + "; run fleetstrap rotate --resume \(runID)"
            try? context.ledger.record(rotation: record)
            return outcome
        }
        record.state = .retired
        record.endedAt = now()
        record.detail = nil
        try? context.ledger.record(rotation: record)
        outcome.state = .rotated
        outcome.message = "\(member.clusters.count) clusters switched to \(record.newKeyId); \(record.oldKeys.isEmpty ? "no old key" : record.oldKeys.joined(separator: ", ")) \(rotation.deleteOld ? "deleted" : "made Inactive")"
        return outcome
    }
}

/// What `rotate --resume` runs again with.
struct RotateOptions: Codable {
    var run: RunSettings
    var rotation: RotationSettings
}
