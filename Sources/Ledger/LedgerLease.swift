// The run lease: one row naming the process that holds the fleet state (ledger and state folder) for a run that
// writes, with a heartbeat, so that a second process, on this host or on another sharing the volume, can name the
// holder and tell a live one from one that is gone.
import Foundation
import GRDB

public struct LeaseRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "lease"
    public var name = "run"
    public var host: String
    public var pid: Int32
    public var command: String
    public var runId: String?
    public var acquiredAt: Date
    public var heartbeat: Date

    public init(host: String, pid: Int32, command: String, runId: String? = nil, acquiredAt: Date, heartbeat: Date) {
        (self.host, self.pid, self.command, self.runId) = (host, pid, command, runId)
        (self.acquiredAt, self.heartbeat) = (acquiredAt, heartbeat)
    }

    /// The same holder: host and pid (a heartbeat moves, the holder does not).
    public func isHeld(by other: LeaseRecord) -> Bool { host == other.host && pid == other.pid }
}

extension Ledger {
    /// The lease as it stands, if any process holds one.
    public func lease() throws -> LeaseRecord? {
        try database.read { db in try LeaseRecord.fetchOne(db, key: "run") }
    }

    /// Writes `mine` as the lease if there is none or the current one is `replacing`'s holder; returns the lease that
    /// stood in the way otherwise. One transaction: two processes cannot both take it.
    public func takeLease(_ mine: LeaseRecord, replacing stale: LeaseRecord?) throws -> LeaseRecord? {
        try database.write { db in
            if let current = try LeaseRecord.fetchOne(db, key: "run"), !current.isHeld(by: mine) {
                guard let stale, current.isHeld(by: stale), current.acquiredAt == stale.acquiredAt else {
                    return current
                }
            }
            try mine.save(db)
            return nil
        }
    }

    /// The holder is alive: its heartbeat (and the run it works on, once known).
    public func renewLease(host: String, pid: Int32, runId: String?, at date: Date) throws {
        try database.write { db in
            try db.execute(
                sql:
                    """
                    UPDATE lease SET heartbeat = ?, runId = COALESCE(?, runId)
                    WHERE name = 'run' AND host = ? AND pid = ?
                    """,
                arguments: [date, runId, host, pid])
        }
    }

    /// Gives the lease up, if this holder still has it.
    public func releaseLease(host: String, pid: Int32) throws {
        try database.write { db in
            try db.execute(
                sql: "DELETE FROM lease WHERE name = 'run' AND host = ? AND pid = ?", arguments: [host, pid])
        }
    }
}
