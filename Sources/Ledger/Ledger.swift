// The ledger: one SQLite file (GRDB, WAL, mode 0600) that is the source of truth of every run: runs, each cluster's
// result, every step journaled before and after it runs, events, SSH keys (ids and fingerprints, never key
// material), SSH host keys, key rotations per identity and audit findings. A killed run is resumed from here.
import FleetSupport
import Foundation
import GRDB

public final class Ledger: Sendable {
    let database: DatabasePool
    public let path: String

    public struct OpenError: FleetError {
        public let path: String
        public let reason: String
        public var description: String { "cannot open the ledger \(path): \(reason)" }
        public var errorClass: String { "ledger.open" }
        public var hint: String? { "check the folder exists and is writable, or pass --ledger PATH" }
    }

    /// Opens (creating and migrating) the ledger at `path`.
    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !fm.fileExists(atPath: directory) {
            throw OpenError(path: path, reason: "the folder \(directory) does not exist")
        }
        // A ledger that cannot be written is refused before anything starts: every step is journaled before it runs.
        if access(directory.isEmpty ? "." : directory, W_OK) != 0 {
            let reason =
                errno == EROFS
                ? "its file system is read-only"
                : "the folder \(directory) is not writable (\(String(cString: strerror(errno))))"
            throw OpenError(path: path, reason: reason)
        }
        // Creating the file, switching it to WAL and migrating it are serialized across processes (a second
        // fleetstrap, `fleetstrap runs` in a watch loop): GRDB's migrator and SQLite's journal-mode switch are not
        // safe when two openers race on a new file. GRDB advises a file coordinator; on Linux that is an advisory
        // lock, here on the ledger's folder so that the database file's own (POSIX) locks are never touched.
        database = try Self.whileOpening(directory: directory.isEmpty ? "." : directory) {
            let created = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if created >= 0 {
                close(created)
            } else if errno != EEXIST {
                throw OpenError(path: path, reason: "cannot create the file (\(String(cString: strerror(errno))))")
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            do {
                let database = try DatabasePool(path: path, configuration: configuration)
                try Self.migrator.migrate(database)
                return database
            } catch {
                throw OpenError(path: path, reason: "\(error)")
            }
        }
        for suffix in ["-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
            try? fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path + suffix)
        }
    }

    /// Runs `body` holding an exclusive advisory lock (flock) on `directory`, released when it returns or the process
    /// dies.
    private static func whileOpening<T>(directory: String, _ body: () throws -> T) throws -> T {
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return try body() }
        defer { close(folder) }
        while flock(folder, LOCK_EX) != 0, errno == EINTR {}
        defer { flock(folder, LOCK_UN) }
        return try body()
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "run") { t in
                t.primaryKey("id", .text)
                t.column("command", .text).notNull()
                t.column("inventory", .text).notNull()
                t.column("inventoryDigest", .text).notNull()
                t.column("options", .text).notNull()
                t.column("startedAt", .datetime).notNull()
                t.column("endedAt", .datetime)
                t.column("outcome", .text).notNull()
            }
            try db.create(table: "clusterResult") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("cluster", .text).notNull()
                t.column("account", .text).notNull()
                t.column("repository", .text).notNull()
                t.column("wave", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("step", .text)
                t.column("revision", .text)
                t.column("keyId", .text)
                t.column("errorClass", .text)
                t.column("errorMessage", .text)
                t.column("startedAt", .datetime)
                t.column("endedAt", .datetime)
                t.primaryKey(["runId", "cluster"])
            }
            try db.create(table: "step") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("cluster", .text).notNull()
                t.column("step", .text).notNull()
                t.column("state", .text).notNull()
                t.column("detail", .text)
                t.column("at", .datetime).notNull()
                t.column("milliseconds", .integer)
            }
            try db.create(index: "stepByCluster", on: "step", columns: ["runId", "cluster"])
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("cluster", .text)
                t.column("level", .text).notNull()
                t.column("message", .text).notNull()
                t.column("at", .datetime).notNull()
            }
            try db.create(table: "sshKey") { t in
                t.primaryKey("keyId", .text)
                t.column("account", .text).notNull()
                t.column("iamUser", .text).notNull()
                t.column("identity", .text).notNull()
                t.column("fingerprint", .text).notNull()
                t.column("uploadedAt", .datetime)
                t.column("activatedAt", .datetime)
                t.column("deactivatedAt", .datetime)
                t.column("deletedAt", .datetime)
            }
            try db.create(table: "hostKey") { t in
                t.primaryKey("host", .text)
                t.column("keyType", .text).notNull()
                t.column("key", .text).notNull()
                t.column("firstSeen", .datetime).notNull()
                t.column("lastSeen", .datetime).notNull()
            }
        }
        migrator.registerMigration("v2: rotations and audit findings") { db in
            try db.create(table: "rotation") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("identity", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("account", .text).notNull()
                t.column("iamUser", .text).notNull()
                t.column("oldKeyIds", .text).notNull()
                t.column("newKeyId", .text).notNull()
                t.column("newFingerprint", .text)
                t.column("state", .text).notNull()
                t.column("detail", .text)
                t.column("startedAt", .datetime).notNull()
                t.column("endedAt", .datetime)
                t.primaryKey(["runId", "identity"])
            }
            try db.create(table: "finding") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("severity", .text).notNull()
                t.column("code", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("cluster", .text)
                t.column("identity", .text)
                t.column("message", .text).notNull()
            }
            try db.create(index: "findingByRun", on: "finding", columns: ["runId"])
        }
        migrator.registerMigration("v3: keys an audit saw") { db in
            try db.create(table: "auditKey") { t in
                t.column("runId", .text).notNull().references("run", onDelete: .cascade)
                t.column("identity", .text).notNull()
                t.column("iamUser", .text).notNull()
                t.column("keyId", .text).notNull()
                t.column("status", .text).notNull()
                t.column("uploadedAt", .datetime)
                t.column("fingerprint", .text)
                t.primaryKey(["runId", "identity", "keyId"])
            }
        }
        migrator.registerMigration("v4: the run lease") { db in
            // One row while a run that writes holds the fleet state: who holds it, and when it last said so.
            try db.create(table: "lease") { t in
                t.primaryKey("name", .text)
                t.column("host", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("command", .text).notNull()
                t.column("runId", .text)
                t.column("acquiredAt", .datetime).notNull()
                t.column("heartbeat", .datetime).notNull()
            }
        }
        return migrator
    }

    /// `PRAGMA integrity_check`'s answer (`ok` when sound).
    public func integrityCheck() async throws -> String {
        try await read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    // MARK: Access

    /// A transaction through GRDB's async API, off the cooperative pool, whether or not the calling task was
    /// cancelled: GRDB refuses a cancelled task's access, and a run stopped by Ctrl-C must still record that it was
    /// (its clusters interrupted or not started, its outcome).
    func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Task { try await database.write(updates) }.value
    }

    /// A read through GRDB's async API, answered for a cancelled task too (a stopped run reads what it recorded).
    func read<T: Sendable>(_ value: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Task { try await database.read(value) }.value
    }
}
