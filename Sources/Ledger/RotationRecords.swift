// What the ledger keeps of key rotations and audits: per identity, which keys were retired for which new one and
// how far it got; per audit, each finding. Ids and fingerprints only, never key material.
import Foundation
import GRDB

public struct RotationRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "rotation"
    public enum State: String, Codable, Sendable {
        /// The new key is uploaded; clusters are being switched.
        case switching
        /// Some clusters failed or were not reached: the old keys stay Active (`rotate --resume` finishes it).
        case partial
        /// Every cluster of the identity fetches with the new key; the old keys are Inactive.
        case retired
    }
    /// What is rotated, stored by name.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// IAM SSH public keys.
        case ssh
        /// IAM HTTPS Git credentials (service-specific credentials for CodeCommit).
        case httpsToken = "https-token"
    }

    public var kind: Kind
    public var runId: String
    public var identity: String
    public var account: String
    public var iamUser: String
    /// The keys (or credential ids) Active before, comma-separated: retired once every cluster is switched.
    public var oldKeyIds: String
    public var newKeyId: String
    public var newFingerprint: String?
    public var state: State
    public var detail: String?
    public var startedAt: Date
    public var endedAt: Date?

    public init(
        runId: String, identity: String, kind: Kind, account: String, iamUser: String, oldKeyIds: [String],
        newKeyId: String, newFingerprint: String?, state: State, startedAt: Date
    ) {
        (self.runId, self.identity, self.kind, self.account, self.iamUser) = (runId, identity, kind, account, iamUser)
        (self.oldKeyIds, self.newKeyId, self.newFingerprint, self.state, self.startedAt) = (
            oldKeyIds.joined(separator: ","), newKeyId, newFingerprint, state, startedAt
        )
    }

    public var oldKeys: [String] { oldKeyIds.split(separator: ",").map(String.init) }
}

public struct FindingRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "finding"
    public var id: Int64?
    /// How much a finding matters, least first; stored and reported by name.
    public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
        case info, warning, error, critical
        var rank: Int { Self.allCases.firstIndex(of: self)! }
        public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
    }

    public var runId: String
    public var severity: Severity
    /// A stable name (`key.too-old`, `cluster.not-ready`…).
    public var code: String
    /// What it is about: a cluster, an identity or a key.
    public var subject: String
    public var cluster: String?
    public var identity: String?
    public var message: String

    public init(
        runId: String, severity: Severity, code: String, subject: String, cluster: String?, identity: String?,
        message: String
    ) {
        (self.id, self.runId, self.severity, self.code, self.subject) = (nil, runId, severity, code, subject)
        (self.cluster, self.identity, self.message) = (cluster, identity, message)
    }
}

/// An IAM key as an audit saw it (id, status, upload date, fingerprint: never key material).
public struct AuditKeyRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "auditKey"
    public var runId: String
    public var identity: String
    public var iamUser: String
    public var keyId: String
    public var status: String
    public var uploadedAt: Date?
    public var fingerprint: String?

    public init(
        runId: String, identity: String, iamUser: String, keyId: String, status: String, uploadedAt: Date?,
        fingerprint: String?
    ) {
        (self.runId, self.identity, self.iamUser, self.keyId, self.status, self.uploadedAt, self.fingerprint) = (
            runId, identity, iamUser, keyId, status, uploadedAt, fingerprint
        )
    }
}
