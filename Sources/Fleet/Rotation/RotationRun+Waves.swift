// A rotation's waves, each in three phases: protect every cluster, commit the new URLs (one commit per repository),
// switch and verify; the clusters that fail are rolled back, their old URLs committed back.
import AWS
import FleetSupport
import Foundation
import Git
import Inventory
import Ledger

extension RotationRun {
    // MARK: Waves

    private struct Switched: Sendable {
        var record: ClusterRecord
        var error: (any Error)?
        var before: ClusterKeySwitch.Before?
        /// The GitRepository was switched (so a failure needs a rollback).
        var touched = false
    }

    func execute(
        runID: String, members: [Member], earlier: [IdentityOutcome], health: LedgerHealth? = nil,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async throws -> RotationSummary {
        let byCluster = Dictionary(
            uniqueKeysWithValues: members.flatMap { member in member.clusters.map { ($0.name, member) } })
        let records = try await context.ledger.clusters(run: runID).filter { byCluster[$0.cluster] != nil }
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
                for switched in await runWave(
                    runID: runID, records: pending, members: byCluster, health: health, progress: progress)
                {
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
            let waves = remaining.map { wave in records.filter { $0.wave == wave } }
            await summary.recordStop(reason, waves: waves, runID: runID, ledger: context.ledger, progress: progress)
        }
        var outcomes = earlier
        let recorded = (try? await context.ledger.clusters(run: runID)) ?? []
        let results = Dictionary(uniqueKeysWithValues: recorded.map { ($0.cluster, $0) })
        for member in members {
            guard health.error == nil else {
                // Nothing is retired on the strength of a journal that could not be written.
                outcomes.append(
                    IdentityOutcome(
                        identity: member.holder.name, iamUser: member.holder.iamUser, state: .partial, oldKeys: [],
                        newKey: member.credential.id, clusters: member.clusters.count,
                        message: "stopped: the ledger could not be written; the old \(member.holder.what)s stay Active")
                )
                continue
            }
            outcomes.append(await finish(member, results: results, runID: runID, progress: progress))
        }
        let identityFailed = outcomes.contains { $0.state == .refused || $0.state == .partial }
        summary.ledgerFailure = health.error?.description
        summary.outcome = driver.outcome(otherFailure: identityFailed)
        try? await context.ledger.finish(run: runID, outcome: summary.outcome, at: now())
        await context.saveHostKeys()
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
            guard let member = members[record.cluster],
                let cluster = member.clusters.first(where: { $0.name == record.cluster }),
                let repository = context.inventory.repository(named: cluster.repository)
            else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in
                progress(.step(cluster: cluster.name, step: step, milliseconds: ms))
            }
            return ClusterKeySwitch(
                context: context, cluster: cluster, repository: repository, credential: member.credential,
                journal: journal)
        }
        // Phase 1: protect.
        var states: [Switched] = await boundedMap(
            records, limit: parallel, whenCancelled: { Switched(record: Self.notStarted($0)) }
        ) { record in
            var state = Switched(record: record)
            guard let switcher = switcher(record) else {
                state.error = FleetFailure("the cluster is no longer in the inventory", errorClass: "inventory.cluster")
                return state
            }
            state.record.status = .running
            state.record.startedAt = run.now()
            await health.journal { try await run.context.ledger.update(state.record) }
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
                let receipts = try await StepJournal(
                    ledger: context.ledger, runID: runID, cluster: first.cluster.name, progress: { _, _ in }
                ).step(RotationStep.commit) {
                    try await writer.submit(
                        indices.compactMap { index in switcher(states[index].record).map { $0.syncFile(url: $0.newURL) }
                        },
                        message:
                            "Rotate the SSH key of \(first.repository.identity ?? "the fleet") to "
                            + "\(first.credential.id)"
                    )
                }
                for (index, receipt) in zip(indices, receipts) {
                    revisions[index] = ("\(first.repository.branch)@sha1:\(receipt.commit.hex)", writer)
                }
            } catch {
                health.note(error)
                for index in indices { states[index].error = error }
            }
        }
        // Phase 3: switch and verify.
        let phase2 = states
        let committed = revisions
        states = await boundedMap(
            Array(states.indices), limit: parallel,
            whenCancelled: { Switched(record: Self.notStarted(phase2[$0].record)) }
        ) { index in
            var state = phase2[index]
            guard state.error == nil, let before = state.before, let (revision, writer) = committed[index],
                let switcher = switcher(state.record)
            else { return state }
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
                let files = indices.compactMap { index in
                    states[index].before.flatMap { switcher(states[index].record)?.syncFile(url: $0.url) }
                }
                let (rollbackRevision, rollbackWriter) =
                    first.isSSH ? await commitRollback(files, for: first, runID: runID) : (nil, nil)
                let snapshot = states
                let rolled: [(Int, String)] = await boundedMap(
                    indices, limit: parallel, whenCancelled: { ($0, "not rolled back: interrupted") }
                ) { index in
                    guard let before = snapshot[index].before, let switcher = switcher(snapshot[index].record),
                        rollbackWriter != nil || !switcher.isSSH
                    else {
                        return (index, "not rolled back: the rollback commit failed")
                    }
                    do {
                        try await switcher.rollBack(before, revision: rollbackRevision, writer: rollbackWriter)
                        return (
                            index,
                            "rolled back to \(switcher.isSSH ? "key" : "credential") \(before.oldMarker ?? "?"), "
                                + "which works"
                        )
                    } catch {
                        return (index, "rollback failed too: \(error)")
                    }
                }
                for (index, note) in rolled { states[index].record.errorMessage = note }
            }
        }
        // Results.
        var results: [Switched] = []
        for var state in states {
            guard state.record.status != .notStarted else {
                results.append(state)
                continue
            }
            state.record.endedAt = now()
            if state.error != nil, Task.isCancelled {
                // Cut short by Ctrl-C or SIGTERM: neither failed nor done; the identity stays partially rotated with
                // its old key Active, and `rotate --resume-last` takes the cluster up again.
                state.record.status = .interrupted
                state.record.errorClass = "interrupted"
                state.record.errorMessage =
                    "interrupted" + (state.touched ? " after its switch; \(state.record.errorMessage ?? "")" : "")
            } else if let error = state.error {
                let rollbackNote = state.record.errorMessage
                state.record.status = .failed
                state.record.errorClass = (error as? any FleetError)?.errorClass ?? String(describing: type(of: error))
                state.record.errorMessage =
                    "\(error)"
                    + (state.touched && rollbackNote != nil
                        ? "; \(rollbackNote!)" : state.touched ? "; left as it is (--no-rollback)" : "")
            } else {
                state.record.status = .succeeded
                state.record.errorClass = nil
                state.record.errorMessage = nil
            }
            if let storage = state.error.flatMap({ LedgerWriteError.from($0, path: context.ledger.path) }) {
                state.record.errorClass = storage.errorClass
            }
            let finished = state.record
            await health.journal { try await context.ledger.finish(cluster: finished) }
            progress(.clusterFinished(state.record, []))
            results.append(state)
        }
        return results
    }

    /// The old URLs of the clusters rolled back in one repository, in one commit; nil (and an event) when it fails.
    private func commitRollback(_ files: [RepositoryWriter.Submission], for first: ClusterKeySwitch, runID: String)
        async -> (String?, RepositoryWriter?)
    {
        do {
            let writer = try await self.writer(for: first)
            let receipts = try await writer.submit(
                files,
                message:
                    "Roll back the SSH key of \(files.count) cluster\(files.count == 1 ? "" : "s") to the previous key")
            return (receipts.first.map { "\(first.repository.branch)@sha1:\($0.commit.hex)" }, writer)
        } catch {
            try? await context.ledger.event(
                run: runID, level: .error, "rollback commit to \(first.repository.name) failed: \(error)")
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
        guard case .sshKey(let key) = switcher.credential else {
            throw FleetFailure("no Git writer for an https-token rotation")
        }
        let remote = GitRemote(
            url: repository.url(sshUser: key.keyID),
            authentication: .sshKey(privateKeyPEM: key.privateKeyPEM, passphrase: key.passphrase),
            trust: GitTrust(caPEM: context.caBundle, hostKeys: context.hostKeys))
        return try await context.writers.writer(
            key: WriterKey(repository: repository, keyID: key.keyID), remote: remote, branch: repository.branch)
    }
}
