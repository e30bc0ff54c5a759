// The fleetstrap binary killed with SIGKILL in the middle of a bootstrap, then `bootstrap --resume-last`: the run
// completes, every cluster's files were added exactly once (no duplicate commits), and the ledger is sound.
import FleetLab
import FleetSupport
import Foundation
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: kill -9 and resume", .serialized, .tags(.integration))
    struct ResumeTests {
        static var binary: URL {
            var url = Bundle.main.bundleURL
            while url.path != "/"
                && !FileManager.default.fileExists(atPath: url.appendingPathComponent("fleetstrap").path)
            {
                url = url.deletingLastPathComponent()
            }
            return url.appendingPathComponent("fleetstrap")
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aKilledRunResumesWithoutDuplicateCommits() async throws {
            try await LabFleet.with(
                accounts: 2, clusters: 16,
                rollout:
                    "  rollout:\n    parallelism: 2\n    waves: [100%]\n    maxFailures: 0\n    clusterTimeout: 2m\n"
            ) { fleet in
                let arguments = [
                    "bootstrap", "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir",
                    fleet.stateDirectory, "--wait-timeout", "60s", "--reports",
                    fleet.fixture.directory.appendingPathComponent("reports").path,
                ]
                let process = Process()
                process.executableURL = Self.binary
                process.arguments = arguments
                process.environment = fleet.environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                // Kill it once a few clusters are done and others are in flight.
                var done = 0
                for _ in 0..<600 {
                    try await Task.sleep(for: .milliseconds(100))
                    if let ledger = try? Ledger(path: fleet.ledgerPath), let run = try? await ledger.runs().first {
                        done = (try? await ledger.clusters(run: run.id).filter { $0.status == .succeeded }.count) ?? 0
                        if done >= 4 { break }
                    }
                }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                #expect(done >= 4 && done < 16, "killed in the middle (\(done) of 16 done)")

                let resumed = try await runCommand(
                    [Self.binary.path] + arguments + ["--resume-last", "--output", "json", "--log-format", "json"],
                    environment: fleet.environment)
                #expect(resumed.status == 0, "\(resumed.stderr)")
                // One JSON document on standard output, one JSON event a line on standard error.
                let document = try JSONSerialization.jsonObject(with: resumed.stdout) as? [String: Any]
                #expect(document?["outcome"] as? String == "succeeded" && document?["succeeded"] as? Int == 16)
                let events = resumed.stderr.split(separator: "\n").filter { $0.hasPrefix("{") }
                #expect(
                    !events.isEmpty
                        && events.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }
                )
                let ledger = try Ledger(path: fleet.ledgerPath)
                let runs = try await ledger.runs()
                #expect(runs.count == 1 && runs[0].outcome == .succeeded)
                #expect(try await ledger.clusters(run: runs[0].id).allSatisfy { $0.status == .succeeded })
                #expect(try await ledger.integrityCheck() == "ok")
                #expect(try await ledger.events(run: runs[0].id).contains { $0.message == "resumed" })

                // Every cluster's files were added by exactly one commit.
                for repository in fleet.inventory.repositories {
                    let bare = fleet.bareRepository(
                        repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                    let added = try await GitCLI.output([
                        "-C", bare, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "clusters/",
                    ])
                    .split(separator: "\n").filter { $0.hasSuffix("gotk-sync.yaml") }
                    let clusters = fleet.inventory.clusters.filter { $0.repository == repository.name }.count
                    #expect(
                        added.count == clusters && Set(added).count == clusters,
                        "\(repository.name): \(added.count) adds for \(clusters) clusters")
                }
            }
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func ctrlCStopsStartingClustersRecordsTheRestAndExits130() async throws {
            try await LabFleet.with(
                accounts: 1, clusters: 10,
                rollout:
                    "  rollout:\n    parallelism: 3\n    waves: [100%]\n    maxFailures: 0\n    clusterTimeout: 10m\n"
            ) { fleet in
                let reports = fleet.fixture.directory.appendingPathComponent("reports")
                let arguments = [
                    "bootstrap", "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir",
                    fleet.stateDirectory,
                    "--reports", reports.path,
                ]
                let process = Process()
                process.executableURL = Self.binary
                process.arguments = arguments + ["--output", "json"]
                process.environment = fleet.environment
                let stdout = Pipe()
                process.standardOutput = stdout
                process.standardError = FileHandle.nullDevice
                try process.run()
                for _ in 0..<600 {
                    try await Task.sleep(for: .milliseconds(100))
                    if let ledger = try? Ledger(path: fleet.ledgerPath), let run = try? await ledger.runs().first,
                        (try? await ledger.clusters(run: run.id).filter { $0.status == .succeeded }.count) ?? 0 >= 2
                    {
                        break
                    }
                }
                kill(process.processIdentifier, SIGINT)
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                #expect(process.terminationStatus == 130)
                let ledger = try Ledger(path: fleet.ledgerPath)
                let run = try #require(try await ledger.runs().first)
                #expect(run.outcome == .interrupted)
                let clusters = try await ledger.clusters(run: run.id)
                #expect(clusters.contains { $0.status == .notStarted }, "clusters not begun are recorded as such")
                #expect(
                    !clusters.contains { $0.status == .running || $0.status == .pending }, "nothing left half-recorded")
                // Those in flight were interrupted, not failed: not by the cluster timeout, not as a CancellationError.
                let interrupted = clusters.filter { $0.status == .interrupted }
                #expect(!interrupted.isEmpty, "clusters in flight: \(clusters.map { "\($0.cluster) \($0.status)" })")
                #expect(
                    !clusters.contains { $0.status == .failed },
                    "\(clusters.filter { $0.status == .failed }.map { "\($0.cluster): \($0.errorMessage ?? "")" })")
                let document = try JSONSerialization.jsonObject(with: output) as? [String: Any]
                #expect(
                    document?["failed"] as? Int == 0 && document?["interrupted"] as? Int == interrupted.count,
                    "\(document ?? [:])")
                let junit = try String(
                    contentsOf: reports.appendingPathComponent(run.id).appendingPathComponent("junit.xml"),
                    encoding: .utf8)
                #expect(junit.contains("failures=\"0\""), "\(junit.prefix(400))")
                #expect(junit.contains("<skipped message=\"interrupted\"/>"))
                let summary = try String(
                    contentsOf: reports.appendingPathComponent(run.id).appendingPathComponent("summary.md"),
                    encoding: .utf8
                )
                #expect(
                    summary.contains("| 10 | \(clusters.filter { $0.status == .succeeded }.count) | 0 |"),
                    "\(summary.prefix(400))")

                // --resume-last takes them up again, with the clusters never started; an inventory edited since (here a
                // comment) is used as it is now, and said so.
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: fleet.inventoryPath))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("# edited between the interruption and the resume\n".utf8))
                try handle.close()
                let resumed = try await runCommand(
                    [Self.binary.path] + arguments + ["--resume-last"], environment: fleet.environment)
                #expect(resumed.status == 0, "\(resumed.stderr.suffix(1000))")
                #expect(
                    resumed.stderr.contains(
                        "notice: the inventory \(fleet.inventoryPath) has changed since run \(run.id) began"),
                    "\(resumed.stderr.prefix(600))")
                #expect(try await ledger.clusters(run: run.id).allSatisfy { $0.status == .succeeded })
            }
        }
    }
}
