// `rotate --resume`: a rotate run continued with the new credentials its holders got, on the clusters not switched yet.
import AWS
import FleetSupport
import Foundation
import Git
import Inventory
import Ledger

extension RotationRun {
    /// Continues a rotate run: its holders with their new credentials, its clusters not switched yet.
    public func resume(runID: String, progress: @escaping @Sendable (ProgressEvent) -> Void) async throws
        -> RotationSummary
    {
        lock?.attach(runID: runID)
        try await context.ledger.reopen(run: runID)
        try await context.ledger.event(run: runID, "resumed")
        let clusterRecords = try await context.ledger.clusters(run: runID)
        let (candidates, _) = try holders(
            of: clusterRecords.compactMap { context.inventory.cluster(named: $0.cluster) })
        var members: [Member] = []
        var outcomes: [IdentityOutcome] = []
        let rotations = try await context.ledger.rotations(run: runID)
        for record in rotations {
            guard
                let (holder, clusters) = candidates.first(where: {
                    $0.0.name == record.identity && $0.0.kind == record.kind
                }),
                let accountID = context.inventory.account(named: holder.account)?.id
            else {
                throw FleetFailure(
                    "\(record.identity) of run \(runID) is no longer in the inventory", errorClass: "inventory.identity"
                )
            }
            if record.state == .retired {
                outcomes.append(
                    IdentityOutcome(
                        identity: holder.name, iamUser: holder.iamUser, state: .rotated, oldKeys: record.oldKeys,
                        newKey: record.newKeyId, clusters: clusters.count, message: "rotated earlier in this run"))
                continue
            }
            let store = credentials(holder, accountID)
            if record.newKeyId.isEmpty {
                // Killed between recording the rotation and its new credential: one made since is adopted, else one is
                // made. (An https-token credential only if the inventory's files name it: they are written right after
                // it is made.)
                let held = try await store.list()
                let current = (try? store.current(held)) ?? nil
                let made = held.filter { credential in
                    credential.active && (credential.created ?? .distantPast) >= record.startedAt.addingTimeInterval(-1)
                        && (holder.kind == .ssh || credential.id == current?.id)
                }
                if let adopted = made.lazy.compactMap({ try? store.adopt($0.id) }).first {
                    var rotation = HolderRotation(recorded: record)
                    try rotation.handle(
                        .made(credentialID: adopted.id, fingerprint: adopted.fingerprint ?? record.newFingerprint))
                    try await context.ledger.record(rotation: rotation.record)
                    members.append(
                        Member(
                            holder: holder, accountID: accountID, rotation: rotation, credential: adopted,
                            clusters: clusters))
                } else {
                    members.append(
                        try await prepareAfresh(
                            holder, accountID: accountID, clusters: clusters, held: held, runID: runID))
                }
                continue
            }
            var rotation = HolderRotation(recorded: record)
            try rotation.handle(.resumed)
            members.append(
                Member(
                    holder: holder, accountID: accountID, rotation: rotation,
                    credential: try store.adopt(record.newKeyId), clusters: clusters))
        }
        // Killed before a holder's rotation was recorded (holders are prepared one after another): its clusters are in
        // the run, so it was planned; it is prepared now, as the run would have.
        let recorded = Set(rotations.map { "\($0.kind)/\($0.identity)" })
        for (holder, clusters) in candidates where !recorded.contains("\(holder.kind)/\(holder.name)") {
            guard let accountID = context.inventory.account(named: holder.account)?.id else { continue }
            do {
                let held = try await credentials(holder, accountID).list()
                members.append(
                    try await prepareAfresh(holder, accountID: accountID, clusters: clusters, held: held, runID: runID))
            } catch {
                outcomes.append(
                    IdentityOutcome(
                        identity: holder.name, iamUser: holder.iamUser, state: .refused, oldKeys: [], newKey: nil,
                        clusters: clusters.count, message: "\(error)"))
                try? await context.ledger.event(run: runID, level: .error, "\(holder.name): refused: \(error)")
            }
        }
        return try await execute(runID: runID, members: members, earlier: outcomes, progress: progress)
    }
}
