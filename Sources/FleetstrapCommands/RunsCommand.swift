// `fleetstrap runs` and `fleetstrap show RUN`: what the ledger holds.
import ArgumentParser
import Foundation
import Ledger

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List the runs in the ledger, newest first.")

    @Option(help: "The ledger (SQLite).")
    var ledger = "fleetstrap.db"

    func run() async throws {
        let store = try open(ledger)
        for run in try await store.runs() {
            let clusters = try await store.clusters(run: run.id)
            let ok = clusters.filter { $0.status == .succeeded }.count
            let failed = clusters.filter { $0.status == .failed }.count
            print(
                """
                \(run.id)  \(run.command)  \(run.outcome.rawValue)  \(ok)/\(clusters.count) succeeded, \(failed) \
                failed  \(ISO8601DateFormatter().string(from: run.startedAt))
                """
            )
        }
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one run: each cluster's result, or one cluster's steps.")

    @Argument(help: "The run id.")
    var run: String

    @Option(help: "One cluster's steps.")
    var cluster: String?

    @Option(help: "The ledger (SQLite).")
    var ledger = "fleetstrap.db"

    func run() async throws {
        let store = try open(ledger)
        guard let record = try await store.run(run) else {
            throw CommandFailure.invalidInput("no run \(run) in \(ledger)")
        }
        print("\(record.id): \(record.command) of \(record.inventory), \(record.outcome.rawValue)")
        if let cluster {
            for step in try await store.steps(run: run, cluster: cluster) {
                print(
                    """
                      \(step.step) \
                    \(step.state.rawValue)\(step.milliseconds.map { " \($0) ms" } ?? "")\
                    \(step.detail.map { ": \($0)" } ?? "")
                    """
                )
            }
            return
        }
        for result in try await store.clusters(run: run) {
            var line = "  \(result.cluster) wave \(result.wave + 1): \(result.status.rawValue)"
            if let revision = result.revision { line += " \(revision)" }
            if let error = result.errorMessage { line += "\n    \(error)" }
            print(line)
        }
    }
}

func open(_ path: String) throws -> Ledger {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CommandFailure.couldNotStart("no ledger at \(path)")
    }
    do { return try Ledger(path: path) } catch { throw CommandFailure.couldNotStart(describe(error)) }
}
