// The IAM side of an SSH key rotation, per identity: what keys it has and how old; deleting what is safe to delete
// (keys fleetstrap deactivated longer ago than the grace period, and with --prune-inactive Inactive keys no cluster
// is known to use); refusing at IAM's limit of five; and, once every cluster fetches with the new key, the old keys
// made Inactive (deleted with --delete-old).
import AWS
import FleetSupport
import Foundation
import Inventory
import Ledger

public struct RotationSettings: Sendable, Codable, Equatable {
    /// Only identities whose newest Active key is older than this (seconds).
    public var olderThanSeconds: Double?
    public var pruneInactive = false
    public var deleteOld = false
    /// Keys fleetstrap made Inactive are deleted by a later rotate once this long has passed (seconds).
    public var graceSeconds: Double = 7 * 86_400
    /// Failed clusters go back to the previous key (false: left as they are, for inspection).
    public var rollback = true
    /// Only these identities (empty: every identity of the selected clusters).
    public var identities: [String] = []
    public init() {}
}

struct IdentityKeys: Sendable {
    let context: FleetContext
    let identity: Identity
    let accountID: String
    let settings: RotationSettings
    let now: Date

    static let limit = 5

    private func iam() async throws -> (IAMClient, any CredentialProvider) {
        let region = context.inventory.account(named: identity.account)?.region ?? "us-east-1"
        return (IAMClient(client: context.aws), try await context.credentials(account: identity.account, region: region))
    }

    func list() async throws -> [IAMClient.SSHPublicKey] {
        let (iam, credentials) = try await iam()
        return try await iam.listSSHPublicKeys(userName: identity.iamUser, credentials: credentials, account: identity.account)
    }

    /// The newest Active key, the one the identity's clusters are expected to use.
    static func current(_ keys: [IAMClient.SSHPublicKey]) -> IAMClient.SSHPublicKey? {
        keys.filter { $0.status == .active }.max { ($0.uploadDate ?? .distantPast) < ($1.uploadDate ?? .distantPast) }
    }

    /// Deletes Inactive keys that are safe to delete; returns their ids. `usedBy`: key id → clusters last known to use it.
    func deleteRetired(_ keys: [IAMClient.SSHPublicKey], usedBy: [String: [String]], runID: String?) async throws -> [String] {
        var deleted: [String] = []
        let (iam, credentials) = try await iam()
        for key in keys where key.status == .inactive {
            let record = try context.ledger.key(id: key.keyID)
            let pastGrace = record?.deactivatedAt.map { now.timeIntervalSince($0) >= settings.graceSeconds } ?? false
            let prunable = settings.pruneInactive && (usedBy[key.keyID] ?? []).isEmpty
            guard pastGrace || prunable else { continue }
            try await iam.deleteSSHPublicKey(userName: identity.iamUser, keyID: key.keyID, credentials: credentials, account: identity.account)
            try? context.ledger.markKey(key.keyID, deletedAt: now)
            if let runID {
                try? context.ledger.event(
                    run: runID, "deleted Inactive SSH key \(key.keyID) of \(identity.iamUser) (\(pastGrace ? "deactivated more than the grace period ago" : "--prune-inactive, no cluster uses it"))")
            }
            deleted.append(key.keyID)
        }
        return deleted
    }

    /// Why a new key cannot be uploaded (IAM's limit of five), or nil.
    static func refusal(_ keys: [IAMClient.SSHPublicKey], identity: Identity, usedBy: [String: [String]]) -> String? {
        guard keys.count >= limit else { return nil }
        let inactive = keys.filter { $0.status == .inactive }
        let detail = inactive.isEmpty
            ? "all \(keys.count) are Active; delete one that no cluster uses (aws iam delete-ssh-public-key) and run again"
            : "\(inactive.count) are Inactive (\(inactive.map { key in "\(key.keyID)" + ((usedBy[key.keyID] ?? []).isEmpty ? "" : " used by \(usedBy[key.keyID]!.prefix(3).joined(separator: ", "))") }.joined(separator: ", "))); --prune-inactive deletes those no cluster uses"
        return "IAM user \(identity.iamUser) has \(keys.count) SSH keys, IAM's limit: no room for a new one. \(detail)"
    }

    /// Makes `keys` Inactive (and deletes them with --delete-old): the last step, once every cluster is switched.
    func retire(_ keyIDs: [String], runID: String) async throws {
        let (iam, credentials) = try await iam()
        for keyID in keyIDs {
            try await iam.updateSSHPublicKey(userName: identity.iamUser, keyID: keyID, status: .inactive, credentials: credentials, account: identity.account)
            try? context.ledger.markKey(keyID, deactivatedAt: now)
            try? context.ledger.event(run: runID, "SSH key \(keyID) of \(identity.iamUser) made Inactive")
            if settings.deleteOld {
                try await iam.deleteSSHPublicKey(userName: identity.iamUser, keyID: keyID, credentials: credentials, account: identity.account)
                try? context.ledger.markKey(keyID, deletedAt: now)
                try? context.ledger.event(run: runID, "SSH key \(keyID) of \(identity.iamUser) deleted (--delete-old)")
            }
        }
    }

    /// A new key for the identity (made, uploaded, its private half kept encrypted).
    func upload(runID: String) async throws -> SSHKeyMaterial {
        let (iam, credentials) = try await iam()
        return try await context.keys.newKey(for: identity, accountID: accountID, iam: iam, credentials: credentials, runID: runID)
    }
}
