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
        var record = member.record
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
        if !notSwitched.isEmpty || !outside.isEmpty || Task.isCancelled {
            var reasons: [String] = []
            if !notSwitched.isEmpty {
                reasons.append(
                    "\(notSwitched.count) of \(member.clusters.count) clusters not switched "
                        + "(\(notSwitched.prefix(5).joined(separator: ", "))\(notSwitched.count > 5 ? ", …" : ""))"
                )
            }
            if !outside.isEmpty {
                reasons.append(
                    "\(outside.count) clusters outside this run still use another \(holder.what) "
                        + "(\(outside.prefix(5).joined(separator: ", ")))"
                )
            }
            if reasons.isEmpty { reasons.append("interrupted") }
            record.state = .partial
            record.detail = reasons.joined(separator: "; ")
            outcome.message =
                "partially rotated: \(record.detail!); \(record.oldKeys.joined(separator: ", ")) stay Active; "
                + "`fleetstrap rotate --resume \(runID)` finishes it"
            try? context.ledger.record(rotation: record)
            try? context.ledger.event(run: runID, level: .warning, "\(holder.name): \(outcome.message)")
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
            try? context.ledger.event(
                run: runID, level: .warning,
                "could not delete Secret flux-system-previous on \(problem) (harmless; delete it by hand)")
        }
        do {
            try await credentials(holder, member.accountID).retire(record.oldKeys, runID: runID)
        } catch {
            record.state = .partial
            record.detail =
                "every cluster is switched, but the old \(holder.what)s could not be made Inactive: \(error)"
            outcome.message = record.detail! + "; run fleetstrap rotate --resume \(runID)"
            try? context.ledger.record(rotation: record)
            return outcome
        }
        record.state = .retired
        record.endedAt = now()
        record.detail = nil
        try? context.ledger.record(rotation: record)
        outcome.state = .rotated
        outcome.message =
            "\(member.clusters.count) clusters switched to \(record.newKeyId); "
            + "\(record.oldKeys.isEmpty ? "nothing older" : record.oldKeys.joined(separator: ", ")) "
            + "\(rotation.deleteOld ? "deleted" : "made Inactive")"
        return outcome
    }
}
