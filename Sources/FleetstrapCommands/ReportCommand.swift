// `fleetstrap report`: any run of the ledger rendered again (HTML, JSON, JUnit, Markdown), or the runs of several
// ledgers (a sharded run) as one report. Every bootstrap, rotate and audit also writes its reports when it ends.
import ArgumentParser
import Fleet
import FleetSupport
import Foundation
import Inventory
import Ledger
import Reports

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a run from the ledger as HTML, JSON, JUnit XML and Markdown.",
        discussion: """
            RUN is a run id or `latest` (the newest run). With --merge, the newest run of each ledger given (or RUN
            where a ledger holds it) is rendered as one report: the ledgers of a sharded run.
            The JSON follows schemas/report-v1.schema.json.
            """)

    @Argument(help: "A run id, or latest.")
    var run = "latest"

    @Option(help: "The ledger (SQLite).")
    var ledger = "fleetstrap.db"

    @Option(parsing: .upToNextOption, help: "Ledgers to merge into one report (sharded runs).")
    var merge: [String] = []

    @Option(help: "Formats, comma-separated: html, json, junit, md.")
    var format = "html,json,junit,md"

    @Option(help: "The folder to write to (default: reports/<run-id>).")
    var out: String?

    @Option(
        name: [.short, .customLong("file")],
        help: "The inventory, for regions and labels (default: the one the run recorded, if it can be read).")
    var file: String?

    func run() async throws {
        let formats = try Self.formats(format)
        var sources: [(ledger: Ledger, run: String)] = []
        for path in merge.isEmpty ? [ledger] : merge {
            let store = try open(path)
            if run != "latest", try await store.run(run) != nil {
                sources.append((store, run))
            } else if run == "latest" || !merge.isEmpty, let newest = try await store.runs(limit: 1).first {
                sources.append((store, newest.id))
            } else {
                throw CommandFailure.invalidInput(
                    run == "latest" ? "the ledger \(path) holds no run" : "no run \(run) in \(path)")
            }
        }
        let report = try await Self.build(sources, inventory: file)
        let folder = out ?? "reports/\(merge.isEmpty ? sources[0].run : "merged-" + sources[0].run)"
        for path in try ReportWriter.write(report, formats: formats, to: folder) { print(path) }
    }

    static func formats(_ text: String) throws -> [ReportFormat] {
        var out: [ReportFormat] = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            guard let format = ReportFormat(rawValue: name == "markdown" ? "md" : name == "xml" ? "junit" : name) else {
                throw CommandFailure.invalidInput("--format \(name): one of html, json, junit, md")
            }
            if !out.contains(format) { out.append(format) }
        }
        guard !out.isEmpty else {
            throw CommandFailure.invalidInput("--format: give at least one of html, json, junit, md")
        }
        return out
    }

    /// The report, with regions and labels from the inventory when it can be read (the recorded one by default).
    static func build(_ sources: [(ledger: Ledger, run: String)], inventory: String?) async throws -> RunReport {
        var placements: [String: ReportBuilder.Placement] = [:]
        var paths: [String] = inventory.map { [$0] } ?? []
        if inventory == nil {
            for source in sources {
                if let recorded = try? await source.ledger.run(source.run)?.inventory { paths.append(recorded) }
            }
        }
        for path in Set(paths) {
            guard let loaded = try? InventoryLoader.load(path: path) else { continue }
            placements.merge(Self.placements(loaded)) { $1 }
        }
        do {
            return try await ReportBuilder.build(sources, placements: placements)
        } catch let missing as ReportBuilder.Missing {
            throw CommandFailure.invalidInput(missing.description)
        }
    }

    /// Each cluster's region and labels (the ledger keeps neither).
    static func placements(_ inventory: Inventory) -> [String: ReportBuilder.Placement] {
        Dictionary(inventory.clusters.map { ($0.name, ReportBuilder.Placement(region: $0.region, labels: $0.labels)) })
        { $1 }
    }

    /// Writes every format of a run that just ended to `folder/<run-id>/`; says where on standard error.
    static func writeAfterRun(_ runID: String, ledger: Ledger, inventory: Inventory, folder: String?, quiet: Bool) async
    {
        guard let folder, !runID.isEmpty else { return }
        var stderr = StandardError()
        do {
            let report = try await ReportBuilder.build([(ledger, runID)], placements: placements(inventory))
            let written = try ReportWriter.write(report, formats: ReportFormat.allCases, to: "\(folder)/\(runID)")
            if !quiet {
                print(
                    """
                    reports: \(written.first { $0.hasSuffix(".html") } ?? written[0]) (and .json, junit.xml, \
                    summary.md)
                    """,
                    to: &stderr)
            }
        } catch {
            print(
                """
                warning: the reports of \(runID) could not be written: \(error) (fleetstrap report \(runID) tries \
                again)
                """,
                to: &stderr)
        }
    }
}
