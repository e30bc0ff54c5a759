// Key rotations and audit findings in the ledger: each call is one short transaction.
import Foundation
import GRDB

extension Ledger {
    public func record(rotation: RotationRecord) async throws {
        try await write { db in try rotation.save(db) }
    }

    public func rotations(run id: String) async throws -> [RotationRecord] {
        try await read { db in
            try RotationRecord.filter(Column("runId") == id).order(Column("identity")).fetchAll(db)
        }
    }

    /// The newest rotation of `identity` when it is not retired yet (a partial one `rotate --resume` or a later rotate
    /// finishes).
    public func unfinishedRotation(identity: String, kind: RotationRecord.Kind) async throws -> RotationRecord? {
        try await read { db in
            let newest = try RotationRecord.filter(Column("identity") == identity && Column("kind") == kind.rawValue)
                .order(
                    Column("startedAt").desc
                ).fetchOne(db)
            return newest?.state == .retired ? nil : newest
        }
    }

    /// Marks a key deactivated (or deleted) in the key table; unknown keys are left alone.
    public func markKey(_ keyId: String, deactivatedAt: Date? = nil, deletedAt: Date? = nil) async throws {
        try await write { db in
            if let deactivatedAt {
                try db.execute(
                    sql: "UPDATE sshKey SET deactivatedAt = ? WHERE keyId = ?", arguments: [deactivatedAt, keyId])
            }
            if let deletedAt {
                try db.execute(sql: "UPDATE sshKey SET deletedAt = ? WHERE keyId = ?", arguments: [deletedAt, keyId])
            }
        }
    }

    public func key(id: String) async throws -> SSHKeyRecord? {
        try await read { db in try SSHKeyRecord.fetchOne(db, key: id) }
    }

    /// The key each cluster last ran with, by cluster (from the newest result that names one).
    public func lastKeys(clusters: [String]) async throws -> [String: String] {
        try await read { db in
            var out: [String: String] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT c.cluster, c.keyId FROM clusterResult c JOIN run r ON r.id = c.runId
                    WHERE c.keyId IS NOT NULL AND c.status = 'succeeded' ORDER BY r.startedAt
                    """)
            let wanted = Set(clusters)
            for row in rows {
                let cluster: String = row["cluster"]
                if wanted.contains(cluster) { out[cluster] = row["keyId"] }
            }
            return out
        }
    }

    public func record(findings: [FindingRecord]) async throws {
        try await write { db in
            for finding in findings { try finding.insert(db) }
        }
    }

    public func findings(run id: String) async throws -> [FindingRecord] {
        try await read { db in try FindingRecord.filter(Column("runId") == id).order(Column("id")).fetchAll(db)
        }
    }
}

extension Ledger {
    /// When a rotation retired `keyID` (made it Inactive), if one did.
    public func retiredAt(keyID: String) async throws -> Date? {
        try await read { db in
            try Date.fetchOne(
                db,
                sql: """
                    SELECT endedAt FROM rotation WHERE state = 'retired' AND (',' || oldKeyIds || ',') LIKE ('%,' || \
                    ? || ',%')
                    ORDER BY endedAt DESC LIMIT 1
                    """, arguments: [keyID])
        }
    }
}

extension Ledger {
    public func record(auditKeys: [AuditKeyRecord]) async throws {
        try await write { db in
            for key in auditKeys { try key.save(db) }
        }
    }

    public func auditKeys(run id: String) async throws -> [AuditKeyRecord] {
        try await read { db in
            try AuditKeyRecord.filter(Column("runId") == id).order(Column("identity"), Column("uploadedAt")).fetchAll(
                db)
        }
    }
}
