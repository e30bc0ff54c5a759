// The journal: every step recorded in order, and a started step is its cluster's current step (in the same
// transaction), in that run only; a step's end leaves the current step as it was.
import Foundation
import Ledger
import TestSupport
import Testing

@Suite("Ledger: the step journal")
struct LedgerJournalTests {
    @Test func aStartedStepIsTheClustersCurrentStep() async throws {
        let folder = try TemporaryFolder("fleetstrap-journal")
        let ledger = try Ledger(path: folder.file("fleetstrap.db").path)
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        for run in ["run-a", "run-b"] {
            try await ledger.begin(
                RunRecord(
                    id: run, command: "bootstrap", inventory: "fleet.yaml", inventoryDigest: "d", options: "{}",
                    startedAt: start, outcome: .running),
                clusters: ["prod-a", "prod-b"].map {
                    ClusterRecord(
                        runId: run, cluster: $0, account: "prod", repository: "fleet", wave: 0, status: .pending)
                })
        }
        func current(_ run: String, _ cluster: String) async throws -> String? {
            try await ledger.clusters(run: run).first { $0.cluster == cluster }?.step
        }
        try await ledger.journal(run: "run-a", cluster: "prod-a", step: "credentials", state: .started, at: start)
        #expect(try await current("run-a", "prod-a") == "credentials")
        try await ledger.journal(
            run: "run-a", cluster: "prod-a", step: "credentials", state: .finished, milliseconds: 12, at: start)
        #expect(try await current("run-a", "prod-a") == "credentials", "an end leaves the current step")
        try await ledger.journal(run: "run-a", cluster: "prod-a", step: "describe", state: .started, at: start)
        try await ledger.journal(
            run: "run-a", cluster: "prod-a", step: "describe", state: .failed, detail: "refused", milliseconds: 40,
            at: start)
        #expect(try await current("run-a", "prod-a") == "describe")
        #expect(try await current("run-a", "prod-b") == nil, "no other cluster")
        #expect(try await current("run-b", "prod-a") == nil, "no other run")
        let steps = try await ledger.steps(run: "run-a", cluster: "prod-a")
        #expect(
            steps.map { "\($0.step):\($0.state.rawValue)" } == [
                "credentials:started", "credentials:finished", "describe:started", "describe:failed",
            ])
        #expect(steps.last?.detail == "refused" && steps.last?.milliseconds == 40)
        #expect(try await ledger.integrityCheck() == "ok")
    }
}
