// `fleetstrap rotate`: a new credential per holder (an SSH identity's key, an https-token repository's HTTPS Git
// credential), switched to on every cluster that uses it, in waves, with no moment where a cluster has no working
// credential. Per holder: the new one is made while the old stays Active; per wave, each cluster's secret is
// protected, (SSH) gotk-sync.yaml gets the new URL in one commit per repository, then each cluster switches and is
// verified (a failed one is rolled back, its old URL committed back); only when every cluster of the holder fetches
// with the new credential are the old ones made Inactive. Otherwise the holder is "partially rotated" and a later
// `rotate` (or `--resume`) continues with the same new credential.
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
    /// The fleet state this run holds, told the run's id once there is one.
    public var lock: RunLock?

    public init(context: FleetContext, settings: RunSettings, rotation: RotationSettings) {
        self.context = context
        self.settings = settings
        self.rotation = rotation
    }

    /// An identity taking part in the run.
    struct Member: Sendable {
        let holder: CredentialHolder
        let accountID: String
        var record: RotationRecord
        var credential: RotationCredential
        let clusters: [Cluster]
    }

    /// The holders of `clusters`' credentials (SSH identities, https-token repositories) in inventory order, with
    /// their clusters; https-token repositories whose IAM user cannot be told come back as refusals.
    func holders(of clusters: [Cluster]) throws -> ([(CredentialHolder, [Cluster])], [IdentityOutcome]) {
        let inventory = context.inventory
        let wanted = { (name: String) in rotation.identities.isEmpty || rotation.identities.contains(name) }
        var out: [(CredentialHolder, [Cluster])] = []
        var refused: [IdentityOutcome] = []
        func mine(_ holder: CredentialHolder) -> [Cluster] {
            clusters.filter { inventory.repository(named: $0.repository).map(holder.uses) ?? false }
        }
        for identity in inventory.identities where wanted(identity.name) {
            let clusters = mine(.identity(identity))
            if !clusters.isEmpty { out.append((.identity(identity), clusters)) }
        }
        for repository in inventory.repositories where repository.transport == .httpsToken && wanted(repository.name) {
            let username = try? repository.gitUsername(environment: context.environment)
            guard let user = username.flatMap({ $0 }).flatMap(CredentialHolder.iamUser(serviceUserName:)) else {
                let clusters = clusters.filter { $0.repository == repository.name }
                if !clusters.isEmpty {
                    refused.append(IdentityOutcome(
                        identity: repository.name, iamUser: "?", state: .refused, oldKeys: [], newKey: nil, clusters: clusters.count,
                        message: "the user name of repository \(repository.name) cannot be read or is not an IAM HTTPS Git user name (<user>-at-<account id>)"))
                }
                continue
            }
            let clusters = mine(.repository(repository, iamUser: user))
            if !clusters.isEmpty { out.append((.repository(repository, iamUser: user), clusters)) }
        }
        let known = inventory.identities.map(\.name) + inventory.repositories.filter { $0.transport == .httpsToken }.map(\.name)
        for name in rotation.identities where !known.contains(name) {
            let suggestion = Suggestion.closest(to: name, in: known).map { "; did you mean '\($0)'?" } ?? ""
            throw FleetFailure("--identity \(name): no such identity or https-token repository in the inventory\(suggestion)", errorClass: "inventory.identity")
        }
        return (out, refused)
    }

    private struct Plan {
        let holder: CredentialHolder
        let accountID: String
        let clusters: [Cluster]
        let unfinished: RotationRecord?
        let held: [HeldCredential]
        /// Credential id → the clusters last known (from the ledger) to use it.
        let usedBy: [String: [String]]
    }

    private func credentials(_ holder: CredentialHolder, _ accountID: String) -> HolderCredentials {
        HolderCredentials(context: context, holder: holder, accountID: accountID, settings: rotation, now: now())
    }

    /// Rotates the credentials of `clusters`; a dry run says what it would do and changes nothing.
    public func start(clusters: [Cluster], inventoryPath: String, inventoryDigest: String, dryRun: Bool, progress: @escaping @Sendable (ProgressEvent) -> Void) async throws -> RotationSummary {
        let (candidates, refused) = try holders(of: clusters)
        let runID = RunDriver.newRunID(now())
        lock?.attach(runID: runID)
        var outcomes: [IdentityOutcome] = refused
        var plans: [Plan] = []
        // What each cluster last ran with, read once for every holder.
        let known = try context.ledger.lastKeys(clusters: candidates.flatMap { $0.1.map(\.name) })
        // Decide from IAM and the ledger, reading only.
        for (holder, members) in candidates {
            guard let accountID = context.inventory.account(named: holder.account)?.id else { continue }
            let store = credentials(holder, accountID)
            var outcome = IdentityOutcome(identity: holder.name, iamUser: holder.iamUser, state: .skipped, oldKeys: [], newKey: nil, clusters: members.count, message: "")
            do {
                let held = try await store.list()
                let unfinished = try context.ledger.unfinishedRotation(identity: holder.name, kind: holder.kind)
                try await store.checkNoForeignRotation(held, usedBy: Self.usage(members, known), unfinished: unfinished)
                if let unfinished, held.contains(where: { $0.id == unfinished.newKeyId && $0.active }) {
                    plans.append(Plan(holder: holder, accountID: accountID, clusters: members, unfinished: unfinished, held: held, usedBy: Self.usage(members, known)))
                    continue
                }
                guard let current = try store.current(held) else {
                    outcome.message = "IAM user \(holder.iamUser) has no Active \(holder.what) the inventory uses: nothing to rotate"
                    outcomes.append(outcome)
                    continue
                }
                if let limit = rotation.olderThanSeconds, let created = current.created, now().timeIntervalSince(created) < limit {
                    outcome.oldKeys = [current.id]
                    outcome.message = "\(holder.what) \(current.id) is \(DurationText.age(seconds: now().timeIntervalSince(created))) old, younger than --older-than \(DurationText.age(seconds: limit))"
                    outcomes.append(outcome)
                    continue
                }
                try store.checkWritable()
                plans.append(Plan(holder: holder, accountID: accountID, clusters: members, unfinished: nil, held: held, usedBy: Self.usage(members, known)))
            } catch {
                outcome.state = .refused
                outcome.message = "\(error)"
                outcomes.append(outcome)
            }
        }
        if dryRun {
            for plan in plans {
                let usedBy = plan.usedBy
                var outcome = IdentityOutcome(
                    identity: plan.holder.name, iamUser: plan.holder.iamUser, state: .planned,
                    oldKeys: plan.held.filter { $0.active && $0.id != plan.unfinished?.newKeyId }.map(\.id), newKey: plan.unfinished?.newKeyId, clusters: plan.clusters.count,
                    message: "")
                let store = credentials(plan.holder, plan.accountID)
                if let unfinished = plan.unfinished {
                    outcome.message = "would continue the partial rotation to \(unfinished.newKeyId) (run \(unfinished.runId)) on \(plan.clusters.count) clusters"
                } else if let refusal = store.refusal(plan.held.filter { !(!$0.active && rotation.pruneInactive && (usedBy[$0.id] ?? []).isEmpty) }, usedBy: usedBy) {
                    outcome.state = .refused
                    outcome.message = refusal
                } else {
                    outcome.message = "would make a new \(plan.holder.what), switch \(plan.clusters.count) clusters to it, then make \(outcome.oldKeys.joined(separator: ", ")) Inactive"
                }
                outcomes.append(outcome)
            }
            return RotationSummary(run: RunSummary(runID: "", outcome: .succeeded), identities: outcomes.sorted { $0.identity < $1.identity })
        }

        let all = plans.flatMap(\.clusters)
        let waves = settings.waveIndices(count: all.count)
        let options = String(decoding: try JSONEncoder().encode(RotateOptions(run: settings, rotation: rotation)), as: UTF8.self)
        try context.ledger.begin(
            RunRecord(id: runID, command: "rotate", inventory: inventoryPath, inventoryDigest: inventoryDigest, options: options, startedAt: now(), outcome: .running),
            clusters: zip(all, waves).map { cluster, wave in
                ClusterRecord(runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository, wave: wave, status: .pending)
            })
        for outcome in outcomes { try? context.ledger.event(run: runID, level: outcome.state == .refused ? "error" : "info", "\(outcome.identity): \(outcome.state.rawValue): \(outcome.message)") }

        // Credentials: deleted where safe, then a new one per holder (or the partial rotation's), recorded before use.
        let health = LedgerHealth(path: context.ledger.path)
        var members: [Member] = []
        let waveOf = Dictionary(uniqueKeysWithValues: zip(all.map(\.name), waves))
        for plan in plans {
            do {
                members.append(try await prepare(plan, runID: runID))
            } catch {
                // A refused ledger write is the run's, not the holder's: it stops the run (no further holder starts).
                let storage = health.note(error)
                let message = storage?.description ?? "\(error)"
                outcomes.append(IdentityOutcome(identity: plan.holder.name, iamUser: plan.holder.iamUser, state: .refused, oldKeys: [], newKey: nil, clusters: plan.clusters.count, message: message))
                try? context.ledger.event(run: runID, level: "error", "\(plan.holder.name): refused: \(error)")
                for cluster in plan.clusters {
                    var record = ClusterRecord(runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository, wave: waveOf[cluster.name] ?? 0, status: .notStarted)
                    record.errorClass = "rotate.refused"
                    record.errorMessage = "\(plan.holder.name): \(error)"
                    try? context.ledger.update(record)
                }
            }
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, health: health, progress: progress)
    }

    /// Continues a rotate run: its holders with their new credentials, its clusters not switched yet.
    public func resume(runID: String, progress: @escaping @Sendable (ProgressEvent) -> Void) async throws -> RotationSummary {
        lock?.attach(runID: runID)
        try context.ledger.reopen(run: runID)
        try context.ledger.event(run: runID, "resumed")
        let clusterRecords = try context.ledger.clusters(run: runID)
        let (candidates, _) = try holders(of: clusterRecords.compactMap { context.inventory.cluster(named: $0.cluster) })
        var members: [Member] = []
        var outcomes: [IdentityOutcome] = []
        let rotations = try context.ledger.rotations(run: runID)
        for var record in rotations {
            guard let (holder, clusters) = candidates.first(where: { $0.0.name == record.identity && $0.0.kind == record.kind }),
                let accountID = context.inventory.account(named: holder.account)?.id
            else {
                throw FleetFailure("\(record.identity) of run \(runID) is no longer in the inventory", errorClass: "inventory.identity")
            }
            if record.state == .retired {
                outcomes.append(IdentityOutcome(identity: holder.name, iamUser: holder.iamUser, state: .rotated, oldKeys: record.oldKeys, newKey: record.newKeyId, clusters: clusters.count, message: "rotated earlier in this run"))
                continue
            }
            let store = credentials(holder, accountID)
            if record.newKeyId.isEmpty {
                // Killed between recording the rotation and its new credential: one made since is adopted, else one is made.
                // (An https-token credential only if the inventory's files name it: they are written right after it is made.)
                let held = try await store.list()
                let current = (try? store.current(held)) ?? nil
                let made = held.filter { credential in
                    credential.active && (credential.created ?? .distantPast) >= record.startedAt.addingTimeInterval(-1)
                        && (holder.kind == "ssh" || credential.id == current?.id)
                }
                if let adopted = made.lazy.compactMap({ try? store.adopt($0.id) }).first {
                    record.newKeyId = adopted.id
                    try context.ledger.record(rotation: record)
                    members.append(Member(holder: holder, accountID: accountID, record: record, credential: adopted, clusters: clusters))
                } else {
                    let usedBy = Self.usage(clusters, try context.ledger.lastKeys(clusters: clusters.map(\.name)))
                    members.append(try await prepare(Plan(holder: holder, accountID: accountID, clusters: clusters, unfinished: nil, held: held, usedBy: usedBy), runID: runID))
                }
                continue
            }
            record.state = .switching
            members.append(Member(holder: holder, accountID: accountID, record: record, credential: try store.adopt(record.newKeyId), clusters: clusters))
        }
        // Killed before a holder's rotation was recorded (holders are prepared one after another): its clusters are in
        // the run, so it was planned; it is prepared now, as the run would have.
        let recorded = Set(rotations.map { "\($0.kind)/\($0.identity)" })
        for (holder, clusters) in candidates where !recorded.contains("\(holder.kind)/\(holder.name)") {
            guard let accountID = context.inventory.account(named: holder.account)?.id else { continue }
            do {
                let held = try await credentials(holder, accountID).list()
                let usedBy = Self.usage(clusters, try context.ledger.lastKeys(clusters: clusters.map(\.name)))
                members.append(try await prepare(Plan(holder: holder, accountID: accountID, clusters: clusters, unfinished: nil, held: held, usedBy: usedBy), runID: runID))
            } catch {
                outcomes.append(IdentityOutcome(identity: holder.name, iamUser: holder.iamUser, state: .refused, oldKeys: [], newKey: nil, clusters: clusters.count, message: "\(error)"))
                try? context.ledger.event(run: runID, level: "error", "\(holder.name): refused: \(error)")
            }
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, progress: progress)
    }

    /// Credential id → those of `clusters` last known to use it (`known`: cluster → credential id, from the ledger).
    static func usage(_ clusters: [Cluster], _ known: [String: String]) -> [String: [String]] {
        var usedBy: [String: [String]] = [:]
        for cluster in clusters {
            if let key = known[cluster.name] { usedBy[key, default: []].append(cluster.name) }
        }
        return usedBy
    }

    private func prepare(_ plan: Plan, runID: String) async throws -> Member {
        let holder = plan.holder
        let store = credentials(holder, plan.accountID)
        if let unfinished = plan.unfinished {
            var record = unfinished
            record.runId = runID
            record.state = .switching
            record.startedAt = now()
            try context.ledger.record(rotation: record)
            try? context.ledger.event(run: runID, "\(holder.name): continuing the partial rotation to \(unfinished.newKeyId) of run \(unfinished.runId)")
            return Member(holder: holder, accountID: plan.accountID, record: record, credential: try store.adopt(unfinished.newKeyId), clusters: plan.clusters)
        }
        let usedBy = plan.usedBy
        let deleted = try await store.deleteRetired(plan.held, usedBy: usedBy, runID: runID)
        let remaining = plan.held.filter { !deleted.contains($0.id) }
        if let refusal = store.refusal(remaining, usedBy: usedBy) { throw FleetFailure(refusal, errorClass: "rotate.limit") }
        let old = remaining.filter(\.active).map(\.id)
        // Recorded before the new credential is made: a run killed in between adopts it on resume.
        var record = RotationRecord(
            runId: runID, identity: holder.name, kind: holder.kind, account: plan.accountID, iamUser: holder.iamUser, oldKeyIds: old, newKeyId: "", newFingerprint: nil,
            state: .switching, startedAt: now())
        try context.ledger.record(rotation: record)
        let credential = try await store.make(runID: runID)
        // The new credential is never an old one: a run killed after IAM took its key but before the key store had
        // it listed that key among the Active ones here, and the key made now is that same key, adopted.
        let older = old.filter { $0 != credential.id }
        record.oldKeyIds = older.joined(separator: ",")
        record.newKeyId = credential.id
        if case .sshKey(let key) = credential { record.newFingerprint = key.fingerprint }
        try context.ledger.record(rotation: record)
        try? context.ledger.event(
            run: runID, "\(holder.name): new \(holder.what) \(credential.id)\(record.newFingerprint.map { " (\($0))" } ?? ""); \(older.joined(separator: ", ")) stay Active until every cluster is switched")
        return Member(holder: holder, accountID: plan.accountID, record: record, credential: credential, clusters: plan.clusters)
    }

    // MARK: Waves

    private struct Switched: Sendable {
        var record: ClusterRecord
        var error: (any Error)?
        var before: ClusterKeySwitch.Before?
        /// The GitRepository was switched (so a failure needs a rollback).
        var touched = false
    }

    private func execute(
        runID: String, members: [Member], earlier: [IdentityOutcome], health: LedgerHealth? = nil,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async throws -> RotationSummary {
        let byCluster = Dictionary(uniqueKeysWithValues: members.flatMap { member in member.clusters.map { ($0.name, member) } })
        let records = try context.ledger.clusters(run: runID).filter { byCluster[$0.cluster] != nil }
        var summary = RunSummary(runID: runID, outcome: .running)
        let health = health ?? LedgerHealth(path: context.ledger.path)
        let waveCount = (records.map(\.wave).max() ?? -1) + 1
        var driver = RunDriver(waves: waveCount, budget: settings.budget(of: records.count))
        // A write refused before any wave (recording a holder's new credential) stops the run before any cluster.
        let before = RunDriver.WaveResult(cancelled: Task.isCancelled, ledgerFailure: health.error)
        await driver.run(before: before) { wave in
            let todo = records.filter { $0.wave == wave }
            summary.succeeded += todo.filter { $0.status == .succeeded }.map(\.cluster)
            let pending = todo.filter { $0.status != .succeeded }
            var result = RunDriver.WaveResult()
            if !pending.isEmpty {
                progress(.waveStarted(index: wave, clusters: pending.count))
                for switched in await runWave(runID: runID, records: pending, members: byCluster, health: health, progress: progress) {
                    switch switched.record.status {
                    case .succeeded: summary.succeeded.append(switched.record.cluster)
                    case .notStarted: summary.notStarted.append(switched.record.cluster)
                    case .interrupted: summary.interrupted.append(switched.record.cluster)
                    default:
                        result.failed += 1
                        summary.failed.append((switched.record.cluster, switched.record.errorMessage ?? "failed"))
                    }
                }
            }
            // After a refused write no cluster changes (those in flight were rolled back to their old key).
            result.cancelled = Task.isCancelled
            result.ledgerFailure = health.error
            return result
        } onStop: { reason, remaining in
            if reason != .interrupted {
                try? context.ledger.event(run: runID, level: "error", reason.description)
                progress(.stopped(reason: reason.description))
            }
            for wave in remaining {
                let todo = records.filter { $0.wave == wave }
                summary.succeeded += todo.filter { $0.status == .succeeded }.map(\.cluster)
                let pending = todo.filter { $0.status != .succeeded }
                summary.notStarted += pending.map(\.cluster)
                for var record in pending {
                    record.status = .notStarted
                    try? context.ledger.update(record)
                }
            }
        }
        var outcomes = earlier
        let results = Dictionary(uniqueKeysWithValues: ((try? context.ledger.clusters(run: runID)) ?? []).map { ($0.cluster, $0) })
        for member in members {
            guard health.error == nil else {
                // Nothing is retired on the strength of a journal that could not be written.
                outcomes.append(IdentityOutcome(
                    identity: member.holder.name, iamUser: member.holder.iamUser, state: .partial, oldKeys: [],
                    newKey: member.credential.id, clusters: member.clusters.count,
                    message: "stopped: the ledger could not be written; the old \(member.holder.what)s stay Active"))
                continue
            }
            outcomes.append(await finish(member, results: results, runID: runID, progress: progress))
        }
        let identityFailed = outcomes.contains { $0.state == .refused || $0.state == .partial }
        summary.ledgerFailure = health.error?.description
        summary.outcome = driver.outcome(otherFailure: identityFailed)
        try? context.ledger.finish(run: runID, outcome: summary.outcome, at: now())
        context.saveHostKeys()
        return RotationSummary(run: summary, identities: outcomes.sorted { $0.identity < $1.identity })
    }

    /// One wave in three phases: protect (every cluster), one commit per repository with the new URLs, then switch
    /// and verify (every cluster); the failed ones are rolled back, their old URLs in one commit per repository.
    private func runWave(
        runID: String, records: [ClusterRecord], members: [String: Member], health: LedgerHealth,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async -> [Switched] {
        let run = self
        let parallel = settings.parallel
        let context = self.context
        let switcher: @Sendable (ClusterRecord) -> ClusterKeySwitch? = { record in
            guard let member = members[record.cluster], let cluster = member.clusters.first(where: { $0.name == record.cluster }),
                let repository = context.inventory.repository(named: cluster.repository)
            else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in progress(.step(cluster: cluster.name, step: step, milliseconds: ms)) }
            return ClusterKeySwitch(context: context, cluster: cluster, repository: repository, credential: member.credential, journal: journal)
        }
        // Phase 1: protect.
        var states: [Switched] = await boundedMap(records, limit: parallel, whenCancelled: { Switched(record: Self.notStarted($0)) }) { record in
            var state = Switched(record: record)
            guard let switcher = switcher(record) else {
                state.error = FleetFailure("the cluster is no longer in the inventory", errorClass: "inventory.cluster")
                return state
            }
            state.record.status = .running
            state.record.startedAt = run.now()
            health.journal { try run.context.ledger.update(state.record) }
            // After a refused ledger write no cluster is touched.
            guard health.error == nil else { return Switched(record: Self.notStarted(record)) }
            progress(.clusterStarted(record.cluster))
            do { state.before = try await switcher.protect() } catch {
                state.error = error
                health.note(error)
            }
            return state
        }
        // A refused write in phase 1 stops the wave here: nothing was switched or committed yet.
        if let failure = health.error {
            for index in states.indices where states[index].record.status != .notStarted && states[index].error == nil {
                states[index].error = failure
            }
        }
        // Phase 2 (SSH): the new URLs, one commit per repository. https-token URLs do not change.
        let ready = states.indices.filter { states[$0].error == nil && states[$0].before != nil }
        var revisions: [Int: (String?, RepositoryWriter?)] = [:]
        for (_, indices) in Dictionary(grouping: ready, by: { states[$0].record.repository }) {
            guard let first = switcher(states[indices[0]].record) else { continue }
            guard first.isSSH else {
                for index in indices { revisions[index] = (nil, nil) }
                continue
            }
            do {
                let writer = try await writer(for: first)
                let receipts = try await StepJournal(ledger: context.ledger, runID: runID, cluster: first.cluster.name, progress: { _, _ in }).step("commit") {
                    try await writer.submit(
                        indices.compactMap { index in switcher(states[index].record).map { $0.syncFile(url: $0.newURL) } },
                        message: "Rotate the SSH key of \(first.repository.identity ?? "the fleet") to \(first.credential.id)")
                }
                for (index, receipt) in zip(indices, receipts) { revisions[index] = ("\(first.repository.branch)@sha1:\(receipt.commit.hex)", writer) }
            } catch {
                health.note(error)
                for index in indices { states[index].error = error }
            }
        }
        // Phase 3: switch and verify.
        let phase2 = states
        let committed = revisions
        states = await boundedMap(Array(states.indices), limit: parallel, whenCancelled: { Switched(record: Self.notStarted(phase2[$0].record)) }) { index in
            var state = phase2[index]
            guard state.error == nil, let before = state.before, let (revision, writer) = committed[index], let switcher = switcher(state.record) else { return state }
            if let failure = health.error {
                // Its new URL is in Git, its secret is not switched: the rollback puts the old URL back.
                state.error = failure
                state.touched = !before.switched
                return state
            }
            do {
                state.touched = !before.switched
                state.record.revision = try await switcher.switchAndVerify(before, revision: revision, writer: writer)
                state.record.keyId = switcher.credential.id
            } catch {
                state.error = error
                health.note(error)
            }
            return state
        }
        // Rollback of the clusters that failed after their switch.
        if rotation.rollback {
            let failed = states.indices.filter { states[$0].error != nil && states[$0].touched }
            for (_, indices) in Dictionary(grouping: failed, by: { states[$0].record.repository }) {
                guard let first = switcher(states[indices[0]].record) else { continue }
                let files = indices.compactMap { index in states[index].before.flatMap { switcher(states[index].record)?.syncFile(url: $0.url) } }
                let (rollbackRevision, rollbackWriter) = first.isSSH ? await commitRollback(files, for: first, runID: runID) : (nil, nil)
                let snapshot = states
                let rolled: [(Int, String)] = await boundedMap(indices, limit: parallel, whenCancelled: { ($0, "not rolled back: interrupted") }) { index in
                    guard let before = snapshot[index].before, let switcher = switcher(snapshot[index].record), rollbackWriter != nil || !switcher.isSSH else {
                        return (index, "not rolled back: the rollback commit failed")
                    }
                    do {
                        try await switcher.rollBack(before, revision: rollbackRevision, writer: rollbackWriter)
                        return (index, "rolled back to \(switcher.isSSH ? "key" : "credential") \(before.oldMarker ?? "?"), which works")
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
            if state.error != nil, Task.isCancelled {
                // Cut short by Ctrl-C or SIGTERM: neither failed nor done; the identity stays partially rotated with
                // its old key Active, and `rotate --resume-last` takes the cluster up again.
                state.record.status = .interrupted
                state.record.errorClass = "interrupted"
                state.record.errorMessage = "interrupted" + (state.touched ? " after its switch; \(state.record.errorMessage ?? "")" : "")
            } else if let error = state.error {
                let rollbackNote = state.record.errorMessage
                state.record.status = .failed
                state.record.errorClass = (error as? any FleetError)?.errorClass ?? String(describing: type(of: error))
                state.record.errorMessage = "\(error)" + (state.touched && rollbackNote != nil ? "; \(rollbackNote!)" : state.touched ? "; left as it is (--no-rollback)" : "")
            } else {
                state.record.status = .succeeded
                state.record.errorClass = nil
                state.record.errorMessage = nil
            }
            if let storage = state.error.flatMap({ LedgerWriteError.from($0, path: context.ledger.path) }) {
                state.record.errorClass = storage.errorClass
            }
            health.journal { try context.ledger.finish(cluster: state.record) }
            progress(.clusterFinished(state.record, ClusterActions()))
            return state
        }
    }

    /// The old URLs of the clusters rolled back in one repository, in one commit; nil (and an event) when it fails.
    private func commitRollback(_ files: [RepositoryWriter.Submission], for first: ClusterKeySwitch, runID: String) async -> (String?, RepositoryWriter?) {
        do {
            let writer = try await self.writer(for: first)
            let receipts = try await writer.submit(
                files, message: "Roll back the SSH key of \(files.count) cluster\(files.count == 1 ? "" : "s") to the previous key")
            return (receipts.first.map { "\(first.repository.branch)@sha1:\($0.commit.hex)" }, writer)
        } catch {
            try? context.ledger.event(run: runID, level: "error", "rollback commit to \(first.repository.name) failed: \(error)")
            return (nil, nil)
        }
    }

    private static func notStarted(_ record: ClusterRecord) -> ClusterRecord {
        var record = record
        record.status = .notStarted
        return record
    }

    private func writer(for switcher: ClusterKeySwitch) async throws -> RepositoryWriter {
        let repository = switcher.repository
        guard case .sshKey(let key) = switcher.credential else { throw FleetFailure("no Git writer for an https-token rotation") }
        let remote = GitRemote(
            url: repository.url(sshUser: key.keyID), authentication: .sshKey(privateKeyPEM: key.privateKeyPEM, passphrase: key.passphrase),
            trust: GitTrust(caPEM: context.caBundle, hostKeys: context.hostKeys))
        return try await context.writers.writer(key: "\(repository.account)-\(repository.name)-\(key.keyID)", remote: remote, branch: repository.branch)
    }

    // MARK: Finish

    /// Retires the old credentials when every cluster of the holder (in the whole inventory) fetches with the new one.
    private func finish(_ member: Member, results: [String: ClusterRecord], runID: String, progress: @escaping @Sendable (ProgressEvent) -> Void) async -> IdentityOutcome {
        let holder = member.holder
        var record = member.record
        var outcome = IdentityOutcome(
            identity: holder.name, iamUser: holder.iamUser, state: .partial, oldKeys: record.oldKeys, newKey: record.newKeyId,
            clusters: member.clusters.count, message: "")
        let notSwitched = member.clusters.filter { results[$0.name]?.status != .succeeded }.map(\.name)
        // Clusters of the holder outside this run's selection must use the new credential too.
        let inRun = Set(member.clusters.map(\.name))
        let checks = context.inventory.clusters.compactMap { cluster -> ClusterKeySwitch? in
            guard !inRun.contains(cluster.name), let repository = context.inventory.repository(named: cluster.repository), holder.uses(repository) else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { _, _ in }
            return ClusterKeySwitch(context: context, cluster: cluster, repository: repository, credential: member.credential, journal: journal)
        }
        let outside = await boundedMap(checks, limit: settings.parallel, whenCancelled: { $0.cluster.name as String? }) { check in
            (try? await check.currentMarker()) == check.marker ? nil : check.cluster.name
        }.compactMap { $0 }
        if !notSwitched.isEmpty || !outside.isEmpty || Task.isCancelled {
            var reasons: [String] = []
            if !notSwitched.isEmpty { reasons.append("\(notSwitched.count) of \(member.clusters.count) clusters not switched (\(notSwitched.prefix(5).joined(separator: ", "))\(notSwitched.count > 5 ? ", …" : ""))") }
            if !outside.isEmpty { reasons.append("\(outside.count) clusters outside this run still use another \(holder.what) (\(outside.prefix(5).joined(separator: ", ")))") }
            if reasons.isEmpty { reasons.append("interrupted") }
            record.state = .partial
            record.detail = reasons.joined(separator: "; ")
            outcome.message = "partially rotated: \(record.detail!); \(record.oldKeys.joined(separator: ", ")) stay Active; `fleetstrap rotate --resume \(runID)` finishes it"
            try? context.ledger.record(rotation: record)
            try? context.ledger.event(run: runID, level: "warning", "\(holder.name): \(outcome.message)")
            return outcome
        }
        // Every cluster fetches with the new credential: the previous secrets go, then the old credentials.
        let retired: [String?] = await boundedMap(member.clusters, limit: settings.parallel, whenCancelled: { "\($0.name): interrupted" }) { cluster in
            guard let repository = context.inventory.repository(named: cluster.repository) else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in progress(.step(cluster: cluster.name, step: step, milliseconds: ms)) }
            do {
                try await ClusterKeySwitch(context: context, cluster: cluster, repository: repository, credential: member.credential, journal: journal).retire()
                return nil
            } catch {
                return "\(cluster.name): \(error)"
            }
        }
        for problem in retired.compactMap({ $0 }) {
            try? context.ledger.event(run: runID, level: "warning", "could not delete Secret flux-system-previous on \(problem) (harmless; delete it by hand)")
        }
        do {
            try await credentials(holder, member.accountID).retire(record.oldKeys, runID: runID)
        } catch {
            record.state = .partial
            record.detail = "every cluster is switched, but the old \(holder.what)s could not be made Inactive: \(error)"
            outcome.message = record.detail! + "; run fleetstrap rotate --resume \(runID)"
            try? context.ledger.record(rotation: record)
            return outcome
        }
        record.state = .retired
        record.endedAt = now()
        record.detail = nil
        try? context.ledger.record(rotation: record)
        outcome.state = .rotated
        outcome.message = "\(member.clusters.count) clusters switched to \(record.newKeyId); \(record.oldKeys.isEmpty ? "nothing older" : record.oldKeys.joined(separator: ", ")) \(rotation.deleteOld ? "deleted" : "made Inactive")"
        return outcome
    }
}

/// What `rotate --resume` runs again with.
struct RotateOptions: Codable {
    var run: RunSettings
    var rotation: RotationSettings
}
