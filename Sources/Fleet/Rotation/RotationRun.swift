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
        /// Where the holder's rotation stands; its record is what the ledger holds.
        var rotation: HolderRotation
        var credential: RotationCredential
        let clusters: [Cluster]
        var record: RotationRecord { rotation.record }
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
                    refused.append(
                        IdentityOutcome(
                            identity: repository.name, iamUser: "?", state: .refused, oldKeys: [], newKey: nil,
                            clusters: clusters.count,
                            message:
                                "the user name of repository \(repository.name) cannot be read or is not an IAM HTTPS "
                                + "Git user name (<user>-at-<account id>)"
                        ))
                }
                continue
            }
            let clusters = mine(.repository(repository, iamUser: user))
            if !clusters.isEmpty { out.append((.repository(repository, iamUser: user), clusters)) }
        }
        let known =
            inventory.identities.map(\.name) + inventory.repositories.filter { $0.transport == .httpsToken }.map(\.name)
        for name in rotation.identities where !known.contains(name) {
            let suggestion = Suggestion.closest(to: name, in: known).map { "; did you mean '\($0)'?" } ?? ""
            throw FleetFailure(
                "--identity \(name): no such identity or https-token repository in the inventory\(suggestion)",
                errorClass: "inventory.identity")
        }
        return (out, refused)
    }

    struct Plan {
        let holder: CredentialHolder
        let accountID: String
        let clusters: [Cluster]
        let unfinished: RotationRecord?
        let held: [HeldCredential]
        /// Credential id → the clusters last known (from the ledger) to use it.
        let usedBy: [String: [String]]
    }

    func credentials(_ holder: CredentialHolder, _ accountID: String) -> HolderCredentials {
        HolderCredentials(context: context, holder: holder, accountID: accountID, settings: rotation, now: now())
    }

    /// Rotates the credentials of `clusters`; a dry run says what it would do and changes nothing.
    public func start(
        clusters: [Cluster], inventoryPath: String, inventoryDigest: String, dryRun: Bool,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async throws -> RotationSummary {
        let (candidates, refused) = try holders(of: clusters)
        let runID = RunDriver.newRunID(now())
        lock?.attach(runID: runID)
        var outcomes: [IdentityOutcome] = refused
        var plans: [Plan] = []
        // What each cluster last ran with, read once for every holder.
        let known = try await context.ledger.lastKeys(clusters: candidates.flatMap { $0.1.map(\.name) })
        // Decide from IAM and the ledger, reading only.
        for (holder, members) in candidates {
            guard let accountID = context.inventory.account(named: holder.account)?.id else { continue }
            let store = credentials(holder, accountID)
            var outcome = IdentityOutcome(
                identity: holder.name, iamUser: holder.iamUser, state: .skipped, oldKeys: [], newKey: nil,
                clusters: members.count, message: "")
            do {
                let held = try await store.list()
                let unfinished = try await context.ledger.unfinishedRotation(identity: holder.name, kind: holder.kind)
                try await store.checkNoForeignRotation(held, usedBy: Self.usage(members, known), unfinished: unfinished)
                if let unfinished, held.contains(where: { $0.id == unfinished.newKeyId && $0.active }) {
                    plans.append(
                        Plan(
                            holder: holder, accountID: accountID, clusters: members, unfinished: unfinished, held: held,
                            usedBy: Self.usage(members, known)))
                    continue
                }
                guard let current = try store.current(held) else {
                    outcome.message =
                        "IAM user \(holder.iamUser) has no Active \(holder.what) the inventory uses: nothing to rotate"
                    outcomes.append(outcome)
                    continue
                }
                if let limit = rotation.olderThanSeconds, let created = current.created,
                    now().timeIntervalSince(created) < limit
                {
                    outcome.oldKeys = [current.id]
                    outcome.message =
                        "\(holder.what) \(current.id) is "
                        + "\(DurationText.age(seconds: now().timeIntervalSince(created))) old, younger than "
                        + "--older-than \(DurationText.age(seconds: limit))"
                    outcomes.append(outcome)
                    continue
                }
                try store.checkWritable()
                plans.append(
                    Plan(
                        holder: holder, accountID: accountID, clusters: members, unfinished: nil, held: held,
                        usedBy: Self.usage(members, known)))
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
                    oldKeys: plan.held.filter { $0.active && $0.id != plan.unfinished?.newKeyId }.map(\.id),
                    newKey: plan.unfinished?.newKeyId, clusters: plan.clusters.count,
                    message: "")
                let store = credentials(plan.holder, plan.accountID)
                if let unfinished = plan.unfinished {
                    outcome.message =
                        "would continue the partial rotation to \(unfinished.newKeyId) (run \(unfinished.runId)) on "
                        + "\(plan.clusters.count) clusters"
                } else if let refusal = store.refusal(
                    plan.held.filter { !(!$0.active && rotation.pruneInactive && (usedBy[$0.id] ?? []).isEmpty) },
                    usedBy: usedBy)
                {
                    outcome.state = .refused
                    outcome.message = refusal
                } else {
                    outcome.message =
                        "would make a new \(plan.holder.what), switch \(plan.clusters.count) clusters to it, then "
                        + "make \(outcome.oldKeys.joined(separator: ", ")) Inactive"
                }
                outcomes.append(outcome)
            }
            return RotationSummary(
                run: RunSummary(runID: "", outcome: .succeeded),
                identities: outcomes.sorted { $0.identity < $1.identity })
        }

        let all = plans.flatMap(\.clusters)
        let waves = settings.waveIndices(count: all.count)
        let options = String(
            decoding: try JSONEncoder().encode(RotateOptions(run: settings, rotation: rotation)), as: UTF8.self)
        try await context.ledger.begin(
            RunRecord(
                id: runID, command: "rotate", inventory: inventoryPath, inventoryDigest: inventoryDigest,
                options: options, startedAt: now(), outcome: .running),
            clusters: zip(all, waves).map { cluster, wave in
                ClusterRecord(
                    runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository,
                    wave: wave, status: .pending)
            })
        for outcome in outcomes {
            try? await context.ledger.event(
                run: runID, level: outcome.state == .refused ? .error : .info,
                "\(outcome.identity): \(outcome.state.rawValue): \(outcome.message)")
        }

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
                outcomes.append(
                    IdentityOutcome(
                        identity: plan.holder.name, iamUser: plan.holder.iamUser, state: .refused, oldKeys: [],
                        newKey: nil, clusters: plan.clusters.count, message: message))
                try? await context.ledger.event(run: runID, level: .error, "\(plan.holder.name): refused: \(error)")
                for cluster in plan.clusters {
                    var record = ClusterRecord(
                        runId: runID, cluster: cluster.name, account: cluster.account, repository: cluster.repository,
                        wave: waveOf[cluster.name] ?? 0, status: .notStarted)
                    record.errorClass = "rotate.refused"
                    record.errorMessage = "\(plan.holder.name): \(error)"
                    try? await context.ledger.update(record)
                }
            }
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, health: health, progress: progress)
    }

    /// A new rotation of `holder` from the credentials IAM holds now, as a run that was not stopped prepares one.
    func prepareAfresh(
        _ holder: CredentialHolder, accountID: String, clusters: [Cluster], held: [HeldCredential], runID: String
    ) async throws -> Member {
        let usedBy = Self.usage(clusters, try await context.ledger.lastKeys(clusters: clusters.map(\.name)))
        let plan = Plan(
            holder: holder, accountID: accountID, clusters: clusters, unfinished: nil, held: held, usedBy: usedBy)
        return try await prepare(plan, runID: runID)
    }

    /// Credential id → those of `clusters` last known to use it (`known`: cluster → credential id, from the
    /// ledger).
    static func usage(_ clusters: [Cluster], _ known: [String: String]) -> [String: [String]] {
        var usedBy: [String: [String]] = [:]
        for cluster in clusters {
            if let key = known[cluster.name] { usedBy[key, default: []].append(cluster.name) }
        }
        return usedBy
    }

    func prepare(_ plan: Plan, runID: String) async throws -> Member {
        let holder = plan.holder
        let store = credentials(holder, plan.accountID)
        if let unfinished = plan.unfinished {
            var record = unfinished
            record.runId = runID
            record.startedAt = now()
            var rotation = HolderRotation(recorded: record)
            try rotation.handle(.resumed)
            try await context.ledger.record(rotation: rotation.record)
            try? await context.ledger.event(
                run: runID,
                "\(holder.name): continuing the partial rotation to \(unfinished.newKeyId) of run \(unfinished.runId)")
            return Member(
                holder: holder, accountID: plan.accountID, rotation: rotation,
                credential: try store.adopt(unfinished.newKeyId), clusters: plan.clusters)
        }
        let usedBy = plan.usedBy
        let deleted = try await store.deleteRetired(plan.held, usedBy: usedBy, runID: runID)
        let remaining = plan.held.filter { !deleted.contains($0.id) }
        if let refusal = store.refusal(remaining, usedBy: usedBy) {
            throw FleetFailure(refusal, errorClass: "rotate.limit")
        }
        let old = remaining.filter(\.active).map(\.id)
        // Recorded before the new credential is made: a run killed in between adopts it on resume.
        var rotation = HolderRotation(
            starting: RotationRecord(
                runId: runID, identity: holder.name, kind: holder.kind, account: plan.accountID,
                iamUser: holder.iamUser, oldKeyIds: old, newKeyId: "", newFingerprint: nil, state: .switching,
                startedAt: now()))
        try await context.ledger.record(rotation: rotation.record)
        let credential = try await store.make(runID: runID)
        try rotation.handle(.made(credentialID: credential.id, fingerprint: credential.fingerprint))
        let record = rotation.record
        let older = record.oldKeys
        try await context.ledger.record(rotation: record)
        try? await context.ledger.event(
            run: runID,
            "\(holder.name): new \(holder.what) \(credential.id)\(record.newFingerprint.map { " (\($0))" } ?? ""); "
                + "\(older.joined(separator: ", ")) stay Active until every cluster is switched"
        )
        return Member(
            holder: holder, accountID: plan.accountID, rotation: rotation, credential: credential,
            clusters: plan.clusters)
    }
}

/// What `rotate --resume` runs again with.
struct RotateOptions: Codable {
    var run: RunSettings
    var rotation: RotationSettings
}
