// The crash campaign: the fleetstrap binary killed with SIGKILL at 20 random moments of a 100-cluster bootstrap, and
// at 20 of a rotation of the same fleet, each time continued with --resume-last. After each kill the ledger passes
// integrity_check; at the end every cluster succeeded in one run, Git holds no duplicate commit, IAM holds one Active
// key per identity and no orphan, and every cluster fetches with the key it has. The seed is printed for replay.
import Fleet
import FleetLab
import FleetSupport
import Foundation
import Git
import Inventory
import Kube
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: crash campaign (kill -9 at random points)", .serialized, .tags(.integration, .faults))
    struct CrashCampaignTests {
        static let clusters = 100
        static let kills = 20

        struct Campaign {
            var killed = 0
            var finishedBetweenKills = 0
            var integrityChecks = 0
        }

        /// Starts `command`, kills it after a random moment while it runs, and again on each --resume-last, until
        /// `kills` kills landed; then lets the last resume finish. Returns what happened and the final exit status.
        static func killRepeatedly(
            _ fleet: LabFleet, _ command: [String], ledger: String, rng: inout SplitMix64
        ) async throws -> (Campaign, Int32, String) {
            var campaign = Campaign()
            while campaign.killed < kills {
                // Resume when there is a run to resume: a kill may land before the first one was recorded.
                let hasRun =
                    (try? await Ledger(path: ledger).runs().contains {
                        $0.command == command[0] && $0.outcome == .running
                    })
                    ?? false
                let process = Process()
                process.executableURL = ResumeTests.binary
                process.arguments = command + (hasRun ? ["--resume-last"] : [])
                process.environment = fleet.environment
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                let delay = 300 + Int(rng.next() % 2200)
                try await Task.sleep(for: .milliseconds(delay))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    campaign.killed += 1
                } else {
                    process.waitUntilExit()
                    campaign.finishedBetweenKills += 1
                    if process.terminationStatus == 0 { break }
                }
                #expect(try await Ledger(path: ledger).integrityCheck() == "ok", "after kill \(campaign.killed)")
                campaign.integrityChecks += 1
            }
            let hasRun =
                (try? await Ledger(path: ledger).runs().contains { $0.command == command[0] && $0.outcome == .running })
                ?? false
            guard hasRun else { return (campaign, 0, "") }
            let last = try await runCommand(
                [ResumeTests.binary.path] + command + ["--resume-last"], environment: fleet.environment)
            return (campaign, last.status, last.stderr)
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aBootstrapAndARotationKilled20TimesEachResumeWithNothingLost() async throws {
            let seed = UInt64.random(in: 0...UInt64.max)
            print("crash campaign seed: \(seed)")
            var rng = SplitMix64(seed: seed)
            try await LabFleet.with(accounts: 2, clusters: Self.clusters) { fleet in
                let common = [
                    "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir", fleet.stateDirectory,
                    "--no-reports",
                    "--wait-timeout", "60s", "--parallel", "10",
                ]

                // Bootstrap.
                let (bootstrap, status, stderr) = try await Self.killRepeatedly(
                    fleet, ["bootstrap"] + common, ledger: fleet.ledgerPath, rng: &rng)
                print("bootstrap: \(bootstrap.killed) kills, \(bootstrap.finishedBetweenKills) runs ended on their own")
                #expect(
                    bootstrap.killed == Self.kills,
                    "the bootstrap ended before \(Self.kills) kills: make the fleet larger")
                #expect(status == 0, "\(stderr.suffix(2000))")
                let ledger = try Ledger(path: fleet.ledgerPath)
                let runs = try await ledger.runs().filter { $0.command == "bootstrap" }
                #expect(
                    runs.count == 1 && runs.first?.outcome == .succeeded,
                    "one run, resumed: \(runs.map { "\($0.id) \($0.outcome)" })")
                let run = try #require(runs.first)
                let records = try await ledger.clusters(run: run.id)
                #expect(records.count == Self.clusters && records.allSatisfy { $0.status == .succeeded })
                #expect(try await Self.duplicateAdds(fleet).isEmpty)
                let activeCounts = try await Self.activeKeyCounts(fleet)
                let allCounts = try await Self.allKeys(fleet)
                #expect(activeCounts.allSatisfy { $0.value == 1 }, "\(activeCounts)")
                #expect(allCounts.allSatisfy { $0.value == 1 }, "no orphan key left in IAM: \(allCounts)")
                try await Self.everyClusterFetches(fleet)

                // Rotation.
                let headsBefore = try await RotationTests.heads(fleet)
                let keysBefore = try await Self.activeKeys(fleet)
                let (rotation, rotated, rotateErrors) = try await Self.killRepeatedly(
                    fleet, ["rotate"] + common, ledger: fleet.ledgerPath, rng: &rng)
                print("rotation: \(rotation.killed) kills, \(rotation.finishedBetweenKills) runs ended on their own")
                #expect(rotated == 0, "\(rotateErrors.suffix(2000))")
                let rotations = try await Ledger(path: fleet.ledgerPath).runs().filter { $0.command == "rotate" }
                #expect(
                    rotations.count == 1 && rotations.first?.outcome == .succeeded,
                    "\(rotations.map { "\($0.id) \($0.outcome)" })")
                let keysAfter = try await Self.activeKeys(fleet)
                for (user, key) in keysAfter {
                    #expect(
                        key.count == 1 && key != keysBefore[user],
                        "\(user): one new Active key, \(key) after \(keysBefore[user] ?? [])")
                }
                // One rotation commit per repository and wave at most, and no cluster's files changed twice, however
                // many
                // times it was killed.
                for (repository, before) in headsBefore {
                    let commits = try await GitCLI.output([
                        "-C", repository, "log", "--format=%H %s", "\(before)..main",
                    ])
                    .split(separator: "\n")
                    #expect(
                        !commits.isEmpty && commits.count <= 3
                            && commits.allSatisfy { $0.dropFirst(41).hasPrefix("Rotate the SSH key") },
                        "\(repository): \(commits)")
                    var changed: [String] = []
                    for commit in commits {
                        changed += try await GitCLI.output([
                            "-C", repository, "diff-tree", "--no-commit-id", "--name-only", "-r",
                            String(commit.prefix(40)),
                        ])
                        .split(separator: "\n").map(String.init)
                    }
                    #expect(
                        changed.count == Set(changed).count, "\(repository): a file changed by two rotation commits")
                }
                try await Self.everyClusterFetches(fleet, keys: keysAfter)
                #expect(try await Ledger(path: fleet.ledgerPath).integrityCheck() == "ok")
            }
        }

        // MARK: Checks

        static func duplicateAdds(_ fleet: LabFleet) async throws -> [String] {
            var twice: [String] = []
            for repository in fleet.inventory.repositories {
                let bare = fleet.bareRepository(
                    repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                let added = try await GitCLI.output([
                    "-C", bare, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "clusters/",
                ])
                .split(separator: "\n").filter { $0.hasSuffix("gotk-sync.yaml") }
                twice += Dictionary(grouping: added, by: { $0 }).filter { $0.value.count > 1 }.map { String($0.key) }
            }
            return twice
        }

        /// The identities' IAM users → their Active key ids.
        static func activeKeys(_ fleet: LabFleet) async throws -> [String: [String]] {
            var out: [String: [String]] = [:]
            for identity in fleet.inventory.identities {
                let keys = try await RotationTests.keys(fleet, user: identity.iamUser, account: identity.account)
                out[identity.iamUser] = keys.filter { $0.status == .active }.map(\.keyID).sorted()
            }
            return out
        }

        static func activeKeyCounts(_ fleet: LabFleet) async throws -> [String: Int] {
            try await activeKeys(fleet).mapValues(\.count)
        }

        static func allKeys(_ fleet: LabFleet) async throws -> [String: Int] {
            var out: [String: Int] = [:]
            for identity in fleet.inventory.identities {
                out[identity.iamUser] = try await RotationTests.keys(
                    fleet, user: identity.iamUser, account: identity.account
                ).count
            }
            return out
        }

        /// Every cluster's GitRepository fetched now and Ready: the key it holds works. With `keys`, it is the Active
        /// one.
        static func everyClusterFetches(_ fleet: LabFleet, keys: [String: [String]]? = nil) async throws {
            let context = try await fleet.context()
            let identities = Dictionary(uniqueKeysWithValues: fleet.inventory.identities.map { ($0.name, $0.iamUser) })
            let repositories = Dictionary(uniqueKeysWithValues: fleet.inventory.repositories.map { ($0.name, $0) })
            let failures = try await boundedTryMap(fleet.inventory.clusters, limit: 8) { cluster -> String? in
                let kube = try await RotationTests.kube(context, cluster)
                guard let source = try? await RotationTests.fetchNow(kube) else {
                    return "\(cluster.name): not Ready after a fetch"
                }
                if let keys, let identity = repositories[cluster.repository]?.identity, let user = identities[identity]
                {
                    let used = GitURL.parts(source[path: "spec.url"]?.string ?? "")?.user
                    if used == nil || keys[user]?.contains(used!) != true {
                        return "\(cluster.name): uses \(used ?? "-"), not the Active key"
                    }
                }
                return nil
            }.compactMap { $0 }
            #expect(failures.isEmpty, "\(failures.prefix(5))")
        }
    }
}
