// What the ledger holds, as values.
import Foundation
import GRDB

public struct RunRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "run"
    public enum Outcome: String, Codable, Sendable { case running, succeeded, failed, interrupted, stopped }

    public var id: String
    public var command: String
    public var inventory: String
    public var inventoryDigest: String
    /// The options as JSON (what `--resume` runs again with).
    public var options: String
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: Outcome

    public init(
        id: String, command: String, inventory: String, inventoryDigest: String, options: String, startedAt: Date,
        endedAt: Date? = nil, outcome: Outcome
    ) {
        (self.id, self.command, self.inventory, self.inventoryDigest, self.options) = (
            id, command, inventory, inventoryDigest, options
        )
        (self.startedAt, self.endedAt, self.outcome) = (startedAt, endedAt, outcome)
    }
}

public struct ClusterRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "clusterResult"
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Planned, not begun.
        case pending
        case running
        case succeeded
        case failed
        /// The run stopped (budget, interruption) before the cluster began.
        case notStarted
        /// Ctrl-C or SIGTERM arrived while the cluster ran: neither failed nor done; a resume takes it up again.
        case interrupted
    }

    public var runId: String
    public var cluster: String
    public var account: String
    public var repository: String
    public var wave: Int
    public var status: Status
    /// The last step begun.
    public var step: String?
    public var revision: String?
    public var keyId: String?
    public var errorClass: String?
    public var errorMessage: String?
    public var startedAt: Date?
    public var endedAt: Date?

    public init(runId: String, cluster: String, account: String, repository: String, wave: Int, status: Status) {
        (self.runId, self.cluster, self.account, self.repository, self.wave, self.status) = (
            runId, cluster, account, repository, wave, status
        )
    }
}

public struct StepRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "step"
    public enum State: String, Codable, Sendable { case started, finished, failed, skipped }
    public var id: Int64?
    public var runId: String
    public var cluster: String
    public var step: String
    public var state: State
    public var detail: String?
    public var at: Date
    public var milliseconds: Int?
}

public struct EventRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// How much an event matters, as logs grade it; stored and reported by name.
    public enum Level: String, Codable, Sendable, CaseIterable {
        case info, warning, error
    }

    public static let databaseTableName = "event"
    public var id: Int64?
    public var runId: String
    public var cluster: String?
    public var level: Level
    public var message: String
    public var at: Date
}

public struct SSHKeyRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "sshKey"
    public var keyId: String
    public var account: String
    public var iamUser: String
    public var identity: String
    /// MD5, as IAM shows it.
    public var fingerprint: String
    public var uploadedAt: Date?
    public var activatedAt: Date?
    public var deactivatedAt: Date?
    public var deletedAt: Date?

    public init(
        keyId: String, account: String, iamUser: String, identity: String, fingerprint: String, uploadedAt: Date?
    ) {
        (self.keyId, self.account, self.iamUser, self.identity, self.fingerprint, self.uploadedAt) = (
            keyId, account, iamUser, identity, fingerprint, uploadedAt
        )
        activatedAt = uploadedAt
    }
}

public struct HostKeyRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "hostKey"
    /// The known_hosts pattern (`host` or `[host]:port`).
    public var host: String
    public var keyType: String
    public var key: String
    public var firstSeen: Date
    public var lastSeen: Date

    public init(host: String, keyType: String, key: String, firstSeen: Date, lastSeen: Date) {
        (self.host, self.keyType, self.key, self.firstSeen, self.lastSeen) = (host, keyType, key, firstSeen, lastSeen)
    }
}
