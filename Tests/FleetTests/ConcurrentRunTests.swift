// Two fleetstrap processes on one fleet state (the same ledger and state folder), as a rotation CronJob overlapping a
// manual run: the second is refused (exit 3) naming the first, or waits for it with --wait-lock; a read-only command
// is never blocked. After both, one Active key per identity and every cluster's files committed once.
import AWS
import Fleet
import FleetLab
import FleetSupport
import Foundation
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: concurrent runs on one state", .serialized, .tags(.integration))
    struct ConcurrentRunTests {
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aSecondRunIsRefusedOrWaitsAndReadersAreNeverBlocked() async throws {
            try await LabFleet.with(
                accounts: 1, clusters: 6,
                rollout:
                    "  rollout:\n    parallelism: 1\n    waves: [100%]\n    maxFailures: 0\n    clusterTimeout: 2m\n"
            ) { fleet in
                let common = [
                    "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir", fleet.stateDirectory,
                    "--no-reports", "--wait-timeout", "60s",
                ]
                let first = Process()
                first.executableURL = ResumeTests.binary
                first.arguments = ["bootstrap"] + common
                first.environment = fleet.environment
                first.standardOutput = FileHandle.nullDevice
                let log = fleet.fixture.directory.appendingPathComponent("first.log")
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                first.standardError = try FileHandle(forWritingTo: log)
                try first.run()
                let firstLog = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
                defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
                // The first holds the state once its lease names it.
                var held: LeaseRecord?
                for _ in 0..<600 where held == nil {
                    try await Task.sleep(for: .milliseconds(50))
                    held = (try? Ledger(path: fleet.ledgerPath)).flatMap { try? $0.lease() }
                }
                let lease = try #require(held, "the first run took the lease: \(firstLog())")
                #expect(lease.pid == first.processIdentifier && lease.command == "bootstrap")

                let binary = ResumeTests.binary.path
                let second = try await runCommand([binary, "bootstrap"] + common, environment: fleet.environment)
                #expect(second.status == 3, "\(second.stderr)")
                #expect(second.stderr.contains("is held by fleetstrap bootstrap"), "\(second.stderr)")
                #expect(second.stderr.contains("as pid \(first.processIdentifier) on "), "\(second.stderr)")
                #expect(second.stderr.contains("--wait-lock"), "says what to do")
                let rotation = try await runCommand([binary, "rotate"] + common, environment: fleet.environment)
                #expect(
                    rotation.status == 3 && rotation.stderr.contains("is held by fleetstrap bootstrap"),
                    "\(rotation.stderr)")
                // A plan reads only: it is never blocked by the run.
                let plan = try await runCommand([binary, "plan"] + common, environment: fleet.environment)
                #expect(!plan.stderr.contains("is held by"), "\(plan.stderr)")
                #expect(plan.status != 3, "\(plan.stderr)")

                // Told to wait, a second bootstrap runs once the first is done, and finds nothing to change.
                let waited = try await runCommand(
                    [binary, "bootstrap"] + common + ["--wait-lock", "5m", "--output", "json"],
                    environment: fleet.environment)
                first.waitUntilExit()
                #expect(first.terminationStatus == 0, "\(firstLog())")
                #expect(waited.status == 0, "\(waited.stderr)")
                let document = try JSONSerialization.jsonObject(with: waited.stdout) as? [String: Any]
                #expect(document?["succeeded"] as? Int == 6)

                let ledger = try Ledger(path: fleet.ledgerPath)
                #expect(try ledger.lease() == nil, "no lease is left behind")
                #expect(try await ledger.integrityCheck() == "ok")
                let bootstraps = try await ledger.runs().filter { $0.command == "bootstrap" }
                #expect(bootstraps.count == 2, "the refused runs left no run behind: \(bootstraps.map(\.id))")
                let keys = try await RotationTests.activeKeys(fleet)
                #expect(keys.count == 1, "one Active key for the identity: \(keys)")
                for repository in fleet.inventory.repositories {
                    let bare = fleet.bareRepository(
                        repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                    let added = try await GitCLI.output([
                        "-C", bare, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "clusters/",
                    ])
                    .split(separator: "\n").filter { $0.hasSuffix("gotk-sync.yaml") }
                    #expect(added.count == Set(added).count, "\(repository.name): a cluster's files added twice")
                }
            }
        }

        /// A colleague's copy of the state (another ledger and state folder, taken before a rotation) meets the key
        /// that rotation made: it holds neither that key nor an Active one, so it refuses the identity, names the key
        /// and its upload date, and touches no cluster; bootstrap from it likewise uploads no second key.
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func anotherStateSeesTheRotationItDoesNotHoldAndTouchesNothing() async throws {
            try await LabFleet.with(accounts: 1, clusters: 3) { fleet in
                let context = try await fleet.context()
                try await RotationTests.bootstrap(fleet, context)
                // The colleague's copy, taken now.
                let copy = fleet.fixture.directory.appendingPathComponent("colleague")
                try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
                try FileManager.default.copyItem(
                    atPath: fleet.stateDirectory, toPath: copy.appendingPathComponent("state").path)
                try FileManager.default.copyItem(
                    atPath: fleet.ledgerPath, toPath: copy.appendingPathComponent("fleetstrap.db").path)
                let rotated = try await RotationTests.rotate(fleet, context)
                try #require(rotated.run.outcome == .succeeded, "\(rotated.identities)")
                let newKey = try #require(rotated.identities.first?.newKey)

                let colleague = LabFleet(
                    fixture: fleet.fixture, inventory: fleet.inventory, inventoryPath: fleet.inventoryPath,
                    ledgerPath: copy.appendingPathComponent("fleetstrap.db").path,
                    stateDirectory: copy.appendingPathComponent("state").path)
                let theirs = try await colleague.context()
                let patchesBefore = fleet.fixture.lab.counters().operations["kubernetes:patch"] ?? 0
                let refused = try await RotationTests.rotate(fleet, theirs)
                let outcome = try #require(refused.identities.first)
                #expect(outcome.state == .refused, "\(outcome)")
                #expect(outcome.message.contains("Active SSH key \(newKey) (uploaded 20"), "\(outcome.message)")
                #expect(outcome.message.contains("another fleetstrap state"), "\(outcome.message)")
                #expect(try await RotationTests.activeKeys(fleet) == [newKey], "no key made, none retired")
                #expect(
                    (fleet.fixture.lab.counters().operations["kubernetes:patch"] ?? 0) == patchesBefore,
                    "no cluster touched")

                // Bootstrap from the copy: it would have used its old key, now Inactive, or made a second one. Neither.
                let bootstrap = try await FleetRun(context: theirs, settings: RotationTests.settings).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                #expect(bootstrap.succeeded.isEmpty && bootstrap.failed.count == 3)
                #expect(
                    bootstrap.failed.allSatisfy { $0.error.contains("Active SSH key \(newKey)") },
                    "\(bootstrap.failed.prefix(1))")
                #expect(try await RotationTests.activeKeys(fleet) == [newKey])
                #expect(
                    (fleet.fixture.lab.counters().operations["kubernetes:patch"] ?? 0) == patchesBefore,
                    "no cluster touched")
            }
        }
    }
}
