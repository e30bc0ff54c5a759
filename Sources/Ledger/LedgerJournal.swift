// Writing to and reading from the ledger: each call is one short transaction.
import Foundation
import GRDB

extension Ledger {
    // MARK: Runs

    public func begin(_ run: RunRecord, clusters: [ClusterRecord]) async throws {
        try await write { db in
            try run.insert(db)
            for cluster in clusters { try cluster.insert(db) }
        }
    }

    public func finish(run id: String, outcome: RunRecord.Outcome, at date: Date = Date()) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE run SET outcome = ?, endedAt = ? WHERE id = ?", arguments: [outcome.rawValue, date, id])
        }
    }

    /// Marks a run running again (resume).
    public func reopen(run id: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE run SET outcome = 'running', endedAt = NULL WHERE id = ?", arguments: [id])
        }
    }

    public func runs(limit: Int = 50) async throws -> [RunRecord] {
        try await read { db in try RunRecord.order(Column("startedAt").desc).limit(limit).fetchAll(db) }
    }

    public func run(_ id: String) async throws -> RunRecord? {
        try await read { db in try RunRecord.fetchOne(db, key: id) }
    }

    /// The newest run of `command` that did not finish (running, interrupted, stopped or failed).
    public func lastUnfinished(command: String) async throws -> RunRecord? {
        try await read { db in
            try RunRecord.filter(
                Column("command") == command && Column("outcome") != RunRecord.Outcome.succeeded.rawValue
            )
            .order(Column("startedAt").desc).fetchOne(db)
        }
    }

    // MARK: Clusters and steps

    public func clusters(run id: String) async throws -> [ClusterRecord] {
        try await read { db in
            try ClusterRecord.filter(Column("runId") == id).order(Column("wave"), Column("cluster")).fetchAll(db)
        }
    }

    /// One cluster's record in a run.
    public func cluster(run id: String, named name: String) async throws -> ClusterRecord? {
        try await read { db in
            try ClusterRecord.filter(Column("runId") == id && Column("cluster") == name).fetchOne(db)
        }
    }

    public func update(_ record: ClusterRecord) async throws {
        try await write { db in try record.update(db) }
    }

    /// Records a cluster's result, leaving the step the journal last wrote.
    public func finish(cluster record: ClusterRecord) async throws {
        try await write { db in
            try record.update(
                db, columns: ["status", "revision", "keyId", "errorClass", "errorMessage", "startedAt", "endedAt"])
        }
    }

    /// Journals a step (before: `started`; after: `finished`, `failed` or `skipped`) and the cluster's current step.
    public func journal(
        run: String, cluster: String, step: String, state: StepRecord.State, detail: String? = nil,
        milliseconds: Int? = nil, at date: Date = Date()
    ) async throws {
        try await write { db in
            let record = StepRecord(
                id: nil, runId: run, cluster: cluster, step: step, state: state, detail: detail, at: date,
                milliseconds: milliseconds)
            try record.insert(db)
            if state == .started {
                // Prepared once per connection: a statement parsed for every step was 1% of a fleet's CPU.
                try db.cachedStatement(sql: "UPDATE clusterResult SET step = ? WHERE runId = ? AND cluster = ?")
                    .execute(arguments: [step, run, cluster])
            }
        }
    }

    public func steps(run: String, cluster: String) async throws -> [StepRecord] {
        try await read { db in
            try StepRecord.filter(Column("runId") == run && Column("cluster") == cluster).order(Column("id")).fetchAll(
                db)
        }
    }

    public func event(
        run: String, cluster: String? = nil, level: EventRecord.Level = .info, _ message: String, at date: Date = Date()
    ) async throws {
        try await write { db in
            let record = EventRecord(id: nil, runId: run, cluster: cluster, level: level, message: message, at: date)
            try record.insert(db)
        }
    }

    public func events(run: String) async throws -> [EventRecord] {
        try await read { db in try EventRecord.filter(Column("runId") == run).order(Column("id")).fetchAll(db)
        }
    }

    // MARK: Keys

    public func record(key: SSHKeyRecord) async throws {
        try await write { db in try key.save(db) }
    }

    public func keys(account: String, iamUser: String) async throws -> [SSHKeyRecord] {
        try await read { db in
            try SSHKeyRecord.filter(Column("account") == account && Column("iamUser") == iamUser).order(
                Column("uploadedAt")
            ).fetchAll(db)
        }
    }

    public func hostKeys() async throws -> [HostKeyRecord] {
        try await read { db in try HostKeyRecord.fetchAll(db) }
    }

    public func record(hostKey: HostKeyRecord) async throws {
        try await write { db in
            if var existing = try HostKeyRecord.fetchOne(db, key: hostKey.host) {
                existing.lastSeen = hostKey.lastSeen
                try existing.update(db)
            } else {
                try hostKey.insert(db)
            }
        }
    }
}

extension Ledger {
    /// Every step of a run, in journal order (for reports: one query whatever the fleet's size).
    public func steps(run: String) async throws -> [StepRecord] {
        try await read { db in try StepRecord.filter(Column("runId") == run).order(Column("id")).fetchAll(db) }
    }
}
