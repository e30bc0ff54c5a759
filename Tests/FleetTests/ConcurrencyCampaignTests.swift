// The concurrency campaign: two fleetstrap processes on one fleet state started a random moment apart, round after
// round: two bootstraps, two rotations, a bootstrap and a rotation; half the rounds refuse the second at once
// (--wait-lock 0), half make it wait (--wait-lock 10m). Every round must end with one Active key per identity, every
// cluster fetching with it (an audit finds nothing at error or above), every revision a run waited on present on the
// server, and the ledger sound. The seed is printed; FLEETSTRAP_CAMPAIGN_SEED replays a campaign.
// `make test-faults` runs 20 rounds of each pair; `make test` FLEETSTRAP_CAMPAIGN_ROUNDS (default 4).
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
    @Suite("Fleet: concurrency campaign", .serialized, .tags(.integration, .faults))
    struct ConcurrencyCampaignTests {
        static let environment = ProcessInfo.processInfo.environment
        static let rounds = Int(environment["FLEETSTRAP_CAMPAIGN_ROUNDS"] ?? "") ?? 4
        static let pairs = [("bootstrap", "bootstrap"), ("rotate", "rotate"), ("bootstrap", "rotate")]

        struct Round {
            var pair: String
            var offsetMilliseconds: Int
            var waits: Bool
            var statuses: (Int32, Int32)
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func twoRunsAtOnceNeverBreakTheFleet() async throws {
            let seed =
                UInt64(Self.environment["FLEETSTRAP_CAMPAIGN_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
            print("concurrency campaign: seed \(seed), \(Self.rounds) rounds of each pair")
            var random = SplitMix64(seed: seed)
            try await LabFleet.with(
                accounts: 1, clusters: 4,
                rollout:
                    "  rollout:\n    parallelism: 2\n    waves: [100%]\n    maxFailures: 0\n    clusterTimeout: 2m\n"
            ) { fleet in
                let binary = ResumeTests.binary.path
                let common = [
                    "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir", fleet.stateDirectory,
                    "--no-reports", "--wait-timeout", "60s", "-q",
                ]
                let first = try await runCommand([binary, "bootstrap"] + common, environment: fleet.environment)
                try #require(first.status == 0, "\(first.stderr.suffix(800))")
                var rounds: [Round] = []
                var checkedRuns: Set<String> = []
                for number in 0..<(Self.rounds * Self.pairs.count) {
                    let (a, b) = Self.pairs[number % Self.pairs.count]
                    let offset = Int(random.next() % 1500)
                    let waits = random.next() % 2 == 0
                    let lock = ["--wait-lock", waits ? "10m" : "0"]
                    let environment = fleet.environment
                    // A scheduled rotation deletes the keys earlier ones retired (else IAM's limit of five stops it).
                    let argumentsA = [binary, a] + common + lock + (a == "rotate" ? ["--grace", "0s"] : [])
                    let argumentsB = [binary, b] + common + lock + (b == "rotate" ? ["--grace", "0s"] : [])
                    async let runA = runCommand(argumentsA, environment: environment)
                    async let runB: (status: Int32, stdout: Data, stderr: String) = {
                        try await Task.sleep(for: .milliseconds(offset))
                        return try await runCommand(argumentsB, environment: environment)
                    }()
                    let (resultA, resultB) = try await (runA, runB)
                    let round = Round(
                        pair: "\(a)+\(b)", offsetMilliseconds: offset, waits: waits,
                        statuses: (resultA.status, resultB.status))
                    rounds.append(round)
                    let what = "round \(number) (\(round.pair), \(offset) ms apart, \(waits ? "waiting" : "refusing"))"
                    let said = { (result: (status: Int32, stdout: Data, stderr: String)) in
                        let stdout = String(decoding: result.stdout, as: UTF8.self)
                        return "exit \(result.status): \(stdout.suffix(600)) \(result.stderr.suffix(600))"
                    }
                    // Both ran, one after the other; or, refusing, one ran and the other was refused naming it.
                    if waits {
                        #expect(
                            resultA.status == 0 && resultB.status == 0, "\(what): \(said(resultA)) / \(said(resultB))")
                    } else {
                        let refused = [resultA, resultB].filter { $0.status == 3 }
                        #expect(
                            [resultA, resultB].allSatisfy { $0.status == 0 || $0.status == 3 },
                            "\(what): \(said(resultA)) / \(said(resultB))")
                        #expect(
                            refused.count <= 1 && refused.allSatisfy { $0.stderr.contains("is held by fleetstrap") },
                            "\(what)")
                    }
                    try await Self.checkFleet(fleet, what: what, checked: &checkedRuns)
                }
                let refusedRounds = rounds.filter { !$0.waits && ($0.statuses.0 == 3 || $0.statuses.1 == 3) }.count
                print(
                    "concurrency campaign: \(rounds.count) rounds, \(rounds.filter(\.waits).count) waiting, "
                        + "\(refusedRounds) with one run refused; seed \(seed)"
                )
            }
        }

        /// One Active key, every cluster fetching with it, every revision waited on present on the server, a sound
        /// ledger.
        static func checkFleet(_ fleet: LabFleet, what: String, checked: inout Set<String>) async throws {
            let keys = try await RotationTests.activeKeys(fleet)
            #expect(keys.count == 1, "\(what): Active keys \(keys)")
            let auditLedger = fleet.fixture.directory.appendingPathComponent("audit.db").path
            let audit = try await runCommand(
                [
                    ResumeTests.binary.path, "audit", "-f", fleet.inventoryPath, "--ledger", auditLedger, "--state-dir",
                    fleet.stateDirectory,
                    "--no-reports", "--fail-on", "error", "--output", "json",
                ],
                environment: fleet.environment)
            #expect(
                audit.status == 0,
                "\(what): \(String(decoding: audit.stdout, as: UTF8.self).prefix(1500)) \(audit.stderr.suffix(400))")
            let ledger = try Ledger(path: fleet.ledgerPath)
            #expect(try await ledger.integrityCheck() == "ok", "\(what)")
            #expect(try ledger.lease() == nil, "\(what): a lease left behind")
            var revisions: Set<String> = []
            for run in try await ledger.runs() where checked.insert(run.id).inserted {
                for record in try await ledger.clusters(run: run.id) {
                    guard let revision = record.revision, let sha = revision.split(separator: ":").last,
                        let repository = fleet.inventory.repository(named: record.repository),
                        revisions.insert("\(record.repository) \(sha)").inserted
                    else { continue }
                    let bare = fleet.bareRepository(
                        repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                    let present = try await runCommand(["git", "-C", bare, "cat-file", "-e", "\(sha)^{commit}"])
                    #expect(
                        present.status == 0,
                        "\(what): \(record.cluster) waited on \(revision), which the server does not have")
                }
            }
        }
    }
}
