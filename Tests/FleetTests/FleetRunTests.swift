// The orchestrator against a lab fleet: every cluster Ready at a revision carrying its commit, the ledger complete
// and sound, and a second run that commits and applies nothing; with faults on, healthy clusters succeed, an
// unreachable one fails clearly, and the failure budget stops the next wave.
import AWS
import Fleet
import FleetLab
import FleetSupport
import Foundation
import Inventory
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: bootstrap runs against the lab", .serialized, .tags(.integration))
    struct FleetRunTests {
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aFleetIsBootstrappedOnceAndASecondRunChangesNothing() async throws {
            // 50 clusters, 3 accounts, 3 repositories: over SSH, HTTPS with IAM HTTPS Git credentials (https-token),
            // SSH.
            let count = 50
            try await LabFleet.with(accounts: 3, clusters: count, transports: ["ssh", "https-token"]) { fleet in
                let context = try await fleet.context()
                let settings = RunSettings(
                    parallel: 10, waves: [.count(1), .percent(25), .percent(100)], maxFailures: .count(0),
                    clusterTimeoutSeconds: 120)
                let first = try await FleetRun(context: context, settings: settings).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                #expect(first.outcome == .succeeded, "\(first.failed)")
                #expect(first.succeeded.count == count)
                let records = try await context.ledger.clusters(run: first.runID)
                #expect(records.allSatisfy { $0.status == .succeeded && $0.revision?.hasPrefix("main@sha1:") == true })
                #expect(
                    records.filter { $0.repository != "fleet-staging" }.allSatisfy {
                        $0.keyId?.hasPrefix("APKA") == true
                    },
                    "SSH clusters carry their key id")
                #expect(fleet.inventory.repository(named: "fleet-staging")?.transport == .httpsToken)
                #expect(Set(records.map(\.wave)) == [0, 1, 2])
                let steps = try await context.ledger.steps(run: first.runID, cluster: records[0].cluster)
                #expect(
                    steps.filter { $0.state == .finished }.map(\.step) == [
                        "credentials", "describe", "preflight", "key", "commit", "components", "secret", "sync", "wait",
                    ])
                #expect(try await context.ledger.integrityCheck() == "ok")
                // One SSH key per identity, recorded without key material.
                let keys = try await context.ledger.keys(account: "111111111111", iamUser: "flux-prod")
                #expect(keys.count == 1 && keys[0].fingerprint.count == 47)

                let heads = try await RotationTests.heads(fleet)
                let patchesBefore = fleet.fixture.lab.counters().operations["kubernetes:patch"] ?? 0
                let second = try await FleetRun(context: context, settings: settings).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                #expect(second.outcome == .succeeded)
                #expect(
                    second.plans.values.allSatisfy { $0.isEmpty }, "\(second.plans.filter { !$0.value.isEmpty })")
                let headsAfter = try await RotationTests.heads(fleet)
                #expect(heads == headsAfter, "no commit the second time")
                // The only applies of the second run are the reconcile requests (one per cluster), nothing else.
                #expect((fleet.fixture.lab.counters().operations["kubernetes:patch"] ?? 0) - patchesBefore == count)
                let statistics = await context.writers.statistics()
                print(
                    "writers: "
                        + statistics.sorted { $0.key < $1.key }.map {
                            "\($0.key): \($0.value.commits) commits, \($0.value.pushes) pushes"
                        }.joined(separator: "; "))
            }
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func withFaultsHealthyClustersSucceedAndTheBudgetStopsTheNextWave() async throws {
            let faults = LabFaults(
                rules: [
                    .init(service: "eks", error: .throttling, probability: 0.2),
                    .init(service: "kubernetes", error: .tooManyRequests, probability: 0.2, retryAfter: 0),
                    .init(service: "kubernetes", error: .unavailable, probability: 0.05),
                ],
                unreachableClusters: ["prod-0001"],
                rivalPushes: [
                    .init(repository: "fleet-prod", account: "prod", pushes: 2),
                    .init(repository: "fleet-staging", account: "staging", pushes: 2),
                ])
            try await LabFleet.with(accounts: 3, clusters: 12, faults: faults) { fleet in
                let context = try await fleet.context()
                // The unreachable cluster is in the first wave; with a budget of 0 no further wave starts.
                // Timeouts generous for a loaded machine: what is measured here is attribution, not speed.
                let strict = RunSettings(
                    parallel: 6, waves: [.count(3), .percent(100)], maxFailures: .count(0), clusterTimeoutSeconds: 240)
                let stopped = try await FleetRun(context: context, settings: strict).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                #expect(stopped.outcome == .stopped)
                #expect(stopped.failed.map(\.cluster) == ["prod-0001"], "\(stopped.failed)")
                #expect(stopped.failed.first?.error.contains("prod-0001") == true)
                #expect(stopped.notStarted.count == 9)
                let records = try await context.ledger.clusters(run: stopped.runID)
                #expect(records.filter { $0.status == .notStarted }.count == 9)
                #expect(records.first { $0.cluster == "prod-0001" }?.errorClass?.hasPrefix("kubernetes.") == true)

                // With room for one failure, every healthy cluster succeeds despite throttling, 5xx and the rival
                // pushes.
                let lenient = RunSettings(
                    parallel: 6, waves: [.count(3), .percent(100)], maxFailures: .count(1), clusterTimeoutSeconds: 240)
                let run = try await FleetRun(context: context, settings: lenient).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                #expect(run.outcome == .failed)
                #expect(run.succeeded.count == 11, "\(run.failed)")
                #expect(run.failed.map(\.cluster) == ["prod-0001"], "\(run.failed)")
                let counters = fleet.fixture.lab.counters()
                #expect((counters.throttled["eks"] ?? 0) + (counters.throttled["kubernetes"] ?? 0) > 0)
            }
        }
    }
}

extension Tag {
    @Tag static var integration: Self
}

enum GitCLI {
    static func output(_ arguments: [String]) async throws -> String {
        let result = try await runCommand(["git"] + arguments)
        guard result.status == 0 else {
            throw FleetFailure("git \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
