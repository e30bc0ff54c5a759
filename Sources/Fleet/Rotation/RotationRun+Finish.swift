// The end of a holder's rotation: its old credentials retired once every cluster that uses it fetches with the new one.
import AWS
import FleetSupport
import Foundation
import Git
import Inventory
import Ledger

extension RotationRun {
    // MARK: Finish

    /// Retires the old credentials when every cluster of the holder (in the whole inventory) fetches with the new one.
    func finish(
        _ member: Member, results: [String: ClusterRecord], runID: String,
        progress: @escaping @Sendable (ProgressEvent) -> Void
    ) async -> IdentityOutcome {
        let holder = member.holder
        var rotation = member.rotation
        let record = rotation.record
        var outcome = IdentityOutcome(
            identity: holder.name, iamUser: holder.iamUser, state: .partial, oldKeys: record.oldKeys,
            newKey: record.newKeyId,
            clusters: member.clusters.count, message: "")
        let notSwitched = member.clusters.filter { results[$0.name]?.status != .succeeded }.map(\.name)
        // Clusters of the holder outside this run's selection must use the new credential too.
        let inRun = Set(member.clusters.map(\.name))
        let checks = context.inventory.clusters.compactMap { cluster -> ClusterKeySwitch? in
            guard !inRun.contains(cluster.name),
                let repository = context.inventory.repository(named: cluster.repository), holder.uses(repository)
            else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { _, _ in }
            return ClusterKeySwitch(
                context: context, cluster: cluster, repository: repository, credential: member.credential,
                journal: journal)
        }
        let outside = await boundedMap(checks, limit: settings.parallel, whenCancelled: { $0.cluster.name as String? })
        { check in
            (try? await check.currentMarker()) == check.marker ? nil : check.cluster.name
        }.compactMap { $0 }
        do {
            try rotation.handle(
                .switched(
                    HolderRotation.Switched(
                        notSwitched: notSwitched, total: member.clusters.count, outside: outside,
                        interrupted: Task.isCancelled, what: holder.what)))
        } catch {
            outcome.message = "\(error)"
            return outcome
        }
        guard rotation.phase == .verified else {
            let how = rotation.phase == .rolledBack ? "rolled back" : "partially rotated"
            outcome.message =
                "\(how): \(rotation.record.detail ?? ""); \(record.oldKeys.joined(separator: ", ")) stay Active; "
                + "`fleetstrap rotate --resume \(runID)` finishes it"
            try? await context.ledger.record(rotation: rotation.record)
            try? await context.ledger.event(run: runID, level: .warning, "\(holder.name): \(outcome.message)")
            return outcome
        }
        // Every cluster fetches with the new credential: the previous secrets go, then the old credentials.
        let retired: [String?] = await boundedMap(
            member.clusters, limit: settings.parallel, whenCancelled: { "\($0.name): interrupted" }
        ) { cluster in
            guard let repository = context.inventory.repository(named: cluster.repository) else { return nil }
            let journal = StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name) { step, ms in
                progress(.step(cluster: cluster.name, step: step, milliseconds: ms))
            }
            do {
                try await ClusterKeySwitch(
                    context: context, cluster: cluster, repository: repository, credential: member.credential,
                    journal: journal
                ).retire()
                return nil
            } catch {
                return "\(cluster.name): \(error)"
            }
        }
        for problem in retired.compactMap({ $0 }) {
            try? await context.ledger.event(
                run: runID, level: .warning,
                "could not delete Secret flux-system-previous on \(problem) (harmless; delete it by hand)")
        }
        do {
            try await credentials(holder, member.accountID).retire(record.oldKeys, runID: runID)
            try rotation.handle(.retired(at: now()))
        } catch {
            let why = "every cluster is switched, but the old \(holder.what)s could not be made Inactive: \(error)"
            try? rotation.handle(.retireFailed(why))
            outcome.message = why + "; run fleetstrap rotate --resume \(runID)"
            try? await context.ledger.record(rotation: rotation.record)
            return outcome
        }
        try? await context.ledger.record(rotation: rotation.record)
        outcome.state = rotation.outcome
        outcome.message =
            "\(member.clusters.count) clusters switched to \(record.newKeyId); "
            + "\(record.oldKeys.isEmpty ? "nothing older" : record.oldKeys.joined(separator: ", ")) "
            + "\(self.rotation.deleteOld ? "deleted" : "made Inactive")"
        return outcome
    }
}
