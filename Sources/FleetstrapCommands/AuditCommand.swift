// `fleetstrap audit`: keys and clusters as they are, reading only; findings by severity; exit 1 at --fail-on.
import ArgumentParser
import Fleet
import FleetSupport
import Foundation
import Ledger

extension AuditFinding.Severity: ExpressibleByArgument {}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit the fleet's SSH keys and Flux installations (reads only; recorded in the ledger).",
        discussion: """
            Per identity: IAM keys with status and age. Per cluster: Flux installed and its version, the GitRepository's
            URL, user and Ready state, the key in Secret flux-system against IAM, the pinned host key, the \
            Kustomization.

            Exit codes: 0 no finding at or above --fail-on, 1 some, 2 invalid input, 3 could not start, 130 interrupted.
            """)

    @OptionGroup var fleet: FleetOptions

    @Option(help: "Exit 1 when a finding is at least this severe: info, warning, error or critical.")
    var failOn: AuditFinding.Severity = .error

    func run() async throws {
        let (inventory, clusters, digest) = try fleet.load()
        try fleet.requireClusters(inventory, clusters)
        let settings = try fleet.settings(inventory, dryRun: true)
        let context = try await fleet.context(inventory)
        let reporter = RunReporter(
            output: fleet.output, total: clusters.count, logFormat: fleet.logFormat, quiet: true, verbose: fleet.verbose
        )
        let audit = FleetAudit(context: context, parallel: settings.parallel)
        let report = try await RunReporter.interruptible {
            try await audit.run(
                clusters: clusters, inventoryPath: fleet.file, inventoryDigest: digest, progress: reporter.event)
        }
        if fleet.output == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            let document = AuditDocument(
                run: report.runID, identities: report.identities, clusters: report.clusters, findings: report.findings)
            FileHandle.standardOutput.write((try encoder.encode(document)) + Data("\n".utf8))
        } else {
            print(Self.text(report))
        }
        await fleet.writeReports(report.runID, context: context)
        if Task.isCancelled { throw ExitCode(130) }
        if let failure = report.ledgerFailure {
            FileHandle.standardError.write(
                Data("error: \(failure): the audit stopped; free space and run it again\n".utf8))
            throw ExitStatus.couldNotStart
        }
        if let worst = report.worst(), worst >= failOn { throw ExitCode(1) }
    }

    struct AuditDocument: Encodable {
        var run: String
        var identities: [IdentityKeySet]
        var clusters: [ClusterState]
        var findings: [AuditFinding]
    }

    static func text(_ report: AuditReport) -> String {
        var lines: [String] = []
        for identity in report.identities {
            lines.append(
                "identity \(identity.identity) (IAM user \(identity.iamUser)): \(identity.keys.count) SSH "
                    + "key\(identity.keys.count == 1 ? "" : "s")"
                    + (identity.maxKeyAgeDays.map { ", max age \(DurationText.age(seconds: $0 * 86_400))" } ?? ""))
            for key in identity.keys {
                lines.append(
                    "  \(key.keyID)  \(key.status.padding(toLength: 8, withPad: " ", startingAt: 0))  "
                        + "\(key.ageDays.map { DurationText.age(seconds: $0 * 86_400) } ?? "?") old"
                )
            }
        }
        let ready = report.clusters.filter { $0.ready == true }.count
        lines.append(
            "clusters: \(report.clusters.count) audited, \(report.clusters.filter(\.fluxInstalled).count) with Flux, "
                + "\(ready) Ready"
        )
        if report.findings.isEmpty {
            lines.append("findings: none")
        } else {
            lines.append("findings: \(report.findings.count)")
            for finding in report.findings {
                lines.append(
                    "  \(finding.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)) "
                        + "\(finding.code.rawValue)  \(finding.subject): \(finding.message)"
                )
            }
        }
        lines.append("audit \(report.runID) recorded in the ledger")
        return lines.joined(separator: "\n")
    }
}
