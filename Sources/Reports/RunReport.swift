// What every report shows, built once from the ledger: the run, its clusters with their steps and timings, events,
// rotations and audit findings. The JSON report is this model as it is (schema `schemas/report-v1.schema.json`);
// HTML, JUnit and Markdown render it. Nothing secret is in the ledger, so nothing secret can be here.
import Foundation
import Ledger

public struct RunReport: Codable, Sendable, Equatable {
    public static let schema = "https://fleetstrap.io/schemas/report-v1.json"

    public struct Run: Codable, Sendable, Equatable {
        public var id: String
        public var command: String
        public var inventory: String
        public var outcome: String
        public var startedAt: Date
        public var endedAt: Date?
        public var seconds: Double?

        public init(
            id: String, command: String, inventory: String, outcome: String, startedAt: Date, endedAt: Date?,
            seconds: Double?
        ) {
            (self.id, self.command, self.inventory, self.outcome, self.startedAt, self.endedAt, self.seconds) = (
                id, command, inventory, outcome, startedAt, endedAt, seconds
            )
        }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var clusters = 0
        public var succeeded = 0
        public var failed = 0
        public var notStarted = 0
        /// In flight when the run was interrupted; a resume takes them up again.
        public var interrupted = 0
        public var pending = 0
        public var waves = 0
        public var findings: [String: Int] = [:]

        public init() {}
    }

    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var state: String
        public var startedAt: Date?
        public var milliseconds: Int?
        public var attempts: Int
        public var detail: String?

        public init(name: String, state: String, startedAt: Date?, milliseconds: Int?, attempts: Int, detail: String?) {
            (self.name, self.state, self.startedAt, self.milliseconds, self.attempts, self.detail) = (
                name, state, startedAt, milliseconds, attempts, detail
            )
        }
    }

    public struct Cluster: Codable, Sendable, Equatable {
        public var name: String
        public var account: String
        public var region: String?
        public var repository: String
        public var labels: [String: String]
        public var wave: Int
        public var status: String
        public var step: String?
        public var revision: String?
        public var keyId: String?
        public var errorClass: String?
        public var errorMessage: String?
        public var startedAt: Date?
        public var endedAt: Date?
        public var seconds: Double?
        public var steps: [Step]

        public init(
            name: String, account: String, region: String?, repository: String, labels: [String: String], wave: Int,
            status: String, step: String?, revision: String?,
            keyId: String?, errorClass: String?, errorMessage: String?, startedAt: Date?, endedAt: Date?,
            seconds: Double?, steps: [Step]
        ) {
            (self.name, self.account, self.region, self.repository, self.labels, self.wave, self.status, self.step) = (
                name, account, region, repository, labels, wave, status, step
            )
            (self.revision, self.keyId, self.errorClass, self.errorMessage) = (
                revision, keyId, errorClass, errorMessage
            )
            (self.startedAt, self.endedAt, self.seconds, self.steps) = (startedAt, endedAt, seconds, steps)
        }
    }

    public struct Event: Codable, Sendable, Equatable {
        public var at: Date
        public var level: EventRecord.Level
        public var cluster: String?
        public var message: String
    }

    public struct Rotation: Codable, Sendable, Equatable {
        public var holder: String
        public var kind: RotationRecord.Kind
        public var iamUser: String
        public var oldKeys: [String]
        public var newKey: String
        public var state: String
        public var detail: String?
    }

    /// An IAM key an audit saw, with its age when the audit ran.
    public struct Key: Codable, Sendable, Equatable {
        public var identity: String
        public var iamUser: String
        public var keyId: String
        public var status: String
        public var uploadedAt: Date?
        public var ageDays: Double?
        public var fingerprint: String?
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var severity: FindingRecord.Severity
        public var code: String
        public var subject: String
        public var cluster: String?
        public var identity: String?
        public var message: String
    }

    public var schema = RunReport.schema
    public var version = 1
    public var generatedAt: Date
    /// One run, or several merged (sharded runs): then `runs` lists them all.
    public var runs: [Run]
    public var summary: Summary
    public var clusters: [Cluster]
    public var events: [Event]
    public var rotations: [Rotation]
    /// For audits: every key of the identities audited.
    public var keys: [Key]
    public var findings: [Finding]
}

// Public initializers: reports are built by `ReportBuilder` from a ledger, and by benchmarks from synthetic runs.
extension RunReport {
    public init(
        generatedAt: Date, runs: [Run], summary: Summary, clusters: [Cluster], events: [Event], rotations: [Rotation],
        keys: [Key], findings: [Finding]
    ) {
        (self.generatedAt, self.runs, self.summary, self.clusters) = (generatedAt, runs, summary, clusters)
        (self.events, self.rotations, self.keys, self.findings) = (events, rotations, keys, findings)
    }
}
