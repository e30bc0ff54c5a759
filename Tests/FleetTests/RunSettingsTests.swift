import FleetSupport
import Foundation
import Inventory
import Kube
import Testing

// The orchestrator's decisions without I/O: waves, the failure budget, which errors pass, which Kubernetes is too old.
@testable import Fleet

@Suite("Fleet: run decisions")
struct RunSettingsTests {
    @Test func wavesAreCumulativeAndTheLastTakesTheRest() {
        let settings = RunSettings(
            parallel: 4, waves: [.count(1), .percent(10), .percent(100)], maxFailures: .percent(5),
            clusterTimeoutSeconds: 60)
        let waves = settings.waveIndices(count: 30)
        #expect(
            waves.filter { $0 == 0 }.count == 1 && waves.filter { $0 == 1 }.count == 2
                && waves.filter { $0 == 2 }.count == 27)
        #expect(waves == waves.sorted(), "clusters keep their order")
        // Sizes that do not reach the whole fleet get a last wave for the rest.
        #expect(
            RunSettings(parallel: 1, waves: [.count(2)], maxFailures: .count(0), clusterTimeoutSeconds: 1).waveIndices(
                count: 5) == [0, 0, 1, 1, 1])
        // 10% of 4 is 1 (rounded up), the same as the first wave: that wave is empty.
        #expect(Set(settings.waveIndices(count: 4)) == [0, 2])
    }

    @Test func theBudgetIsACountOrAShareRoundedUp() {
        func budget(_ text: String, of count: Int) -> Int {
            RunSettings(parallel: 1, waves: [.percent(100)], maxFailures: Rollout.Size(text)!, clusterTimeoutSeconds: 1)
                .budget(of: count)
        }
        #expect(budget("5%", of: 30) == 2)
        #expect(budget("5%", of: 10) == 1)
        #expect(budget("3", of: 30) == 3)
        #expect(budget("0", of: 30) == 0)
    }

    @Test func sizesAreReadCheckedAndRecordedAsWritten() throws {
        #expect(
            Rollout.Size("10%") == .percent(10) && Rollout.Size("12.5%") == .percent(12.5)
                && Rollout.Size("3") == .count(3))
        #expect(Rollout.Size("ten") == nil && Rollout.Size("nan%") == nil && Rollout.Size("") == nil)
        #expect(Rollout.Size("0%")?.isValidBudget == true && Rollout.Size("101%")?.isValidBudget == false)
        #expect(Rollout.Size.waveProblems([.count(1), .percent(10), .percent(100)]).isEmpty)
        #expect(
            Rollout.Size.waveProblems([.count(2), .count(2), .percent(0), .percent(120)]).map(\.index) == [1, 2, 3])
        // Recorded in a run's options as the user wrote them.
        let settings = RunSettings(
            parallel: 2, waves: [.count(1), .percent(12.5)], maxFailures: .percent(5), clusterTimeoutSeconds: 60)
        let json = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        #expect(json.contains(#""waves":["1","12.5%"]"#) && json.contains(#""maxFailures":"5%""#), "\(json)")
        #expect(try JSONDecoder().decode(RunSettings.self, from: Data(json.utf8)) == settings)
    }

    @Test func passingErrorsAreTriedAgainOthersAreNot() {
        #expect(
            StepJournal.isTransient(
                KubeError(.tooManyRequests, status: 429, verb: "get", object: "x", message: "m", cluster: "c")))
        #expect(
            StepJournal.isTransient(
                KubeError(.server, status: 503, verb: "apply", object: "x", message: "m", cluster: "c")))
        #expect(
            !StepJournal.isTransient(KubeError(.timeout, verb: "wait", object: "x", message: "m", cluster: "c")),
            "a wait that timed out is not retried")
        #expect(
            !StepJournal.isTransient(
                KubeError(.forbidden, status: 403, verb: "get", object: "x", message: "m", cluster: "c")))
        #expect(!StepJournal.isTransient(FleetFailure("no")))
    }

    @Test func kubernetesTooOldForTheFluxVersion() {
        #expect(BootstrapPlanner.minimumKubernetesMinor(flux: SemanticVersion(2, 4, 0)) == 28)
        #expect(BootstrapPlanner.minimumKubernetesMinor(flux: SemanticVersion(2, 9, 1)) == 33)
        #expect(BootstrapPlanner.minimumKubernetesMinor(flux: SemanticVersion(2, 7, 5)) == 32)
        #expect(BootstrapPlanner.minimumKubernetesMinor(flux: SemanticVersion(2, 5, 1)) == 30)
        #expect(BootstrapPlanner.minimumKubernetesMinor(flux: SemanticVersion(2, 2, 0)) == 26)
    }
}
