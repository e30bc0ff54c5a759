// The wave loop's decisions without I/O: waves in order, the failure budget checked only when a further wave would
// start, the ledger and interruptions stopping the run at once, and how each run ends.
import Fleet
import Foundation
import Ledger
import Testing

@Suite("Run driver")
struct RunDriverTests {
    typealias Result = RunDriver.WaveResult
    static let full = LedgerWriteError(path: "fleetstrap.db", detail: "disk full", isFull: true)

    /// Runs the driver's loop on scripted wave results; returns the waves started, the stop and the outcome.
    static func drive(
        waves: Int, budget: Int, before: Result = Result(), results: [Result]
    ) async -> (started: [Int], stop: (RunDriver.StopReason, Range<Int>)?, outcome: RunRecord.Outcome) {
        var driver = RunDriver(waves: waves, budget: budget)
        var started: [Int] = []
        var stop: (RunDriver.StopReason, Range<Int>)?
        await driver.run(before: before) { index in
            started.append(index)
            return index < results.count ? results[index] : Result()
        } onStop: { reason, remaining in
            stop = (reason, remaining)
        }
        return (started, stop, driver.outcome())
    }

    @Test func everyWaveRunsInOrderAndACleanRunSucceeds() async {
        let run = await Self.drive(waves: 3, budget: 0, results: [])
        #expect(run.started == [0, 1, 2])
        #expect(run.stop == nil)
        #expect(run.outcome == .succeeded)
    }

    @Test func theBudgetStopsOnlyWhenAFurtherWaveWouldStart() async {
        // 2 failures against a budget of 1 after the first of three waves: the rest are not started.
        let stopped = await Self.drive(waves: 3, budget: 1, results: [Result(failed: 2)])
        #expect(stopped.started == [0])
        #expect(stopped.stop?.0 == .budget(failures: 2, budget: 1) && stopped.stop?.1 == 1..<3)
        #expect(stopped.stop?.0.description == "2 clusters failed, more than the budget of 1: no further wave starts")
        #expect(stopped.outcome == .stopped)
        // Failures add up across waves.
        let later = await Self.drive(waves: 3, budget: 2, results: [Result(failed: 2), Result(failed: 1)])
        #expect(later.started == [0, 1] && later.stop?.1 == 2..<3)
        // Over the budget in the last wave: nothing is left to stop; the run failed.
        let last = await Self.drive(waves: 2, budget: 0, results: [Result(), Result(failed: 3)])
        #expect(last.started == [0, 1] && last.stop == nil && last.outcome == .failed)
        // Within the budget: every wave runs; failures make it failed, not stopped.
        let within = await Self.drive(waves: 2, budget: 5, results: [Result(failed: 1), Result(failed: 1)])
        #expect(within.started == [0, 1] && within.stop == nil && within.outcome == .failed)
    }

    @Test func aRefusedLedgerWriteStopsEvenInTheLastWave() async {
        let middle = await Self.drive(waves: 3, budget: 10, results: [Result(ledgerFailure: Self.full)])
        #expect(middle.started == [0] && middle.stop?.1 == 1..<3 && middle.outcome == RunRecord.Outcome.stopped)
        if case .ledger(let description, let hint)? = middle.stop?.0 {
            #expect(description == "cannot write the ledger fleetstrap.db: its disk is full")
            #expect(hint?.contains("--resume-last") == true)
        } else {
            Issue.record("stopped for \(String(describing: middle.stop))")
        }
        let last = await Self.drive(waves: 1, budget: 10, results: [Result(ledgerFailure: Self.full)])
        #expect(last.stop?.1 == 1..<1 && last.outcome == RunRecord.Outcome.stopped)
        // Before any wave (a rotation recording its new key): no wave starts.
        let before = await Self.drive(waves: 2, budget: 10, before: Result(ledgerFailure: Self.full), results: [])
        #expect(before.started.isEmpty && before.stop?.1 == 0..<2 && before.outcome == RunRecord.Outcome.stopped)
    }

    @Test func anInterruptionStopsAtOnceAndWinsOverTheRest() async {
        let during = await Self.drive(
            waves: 3, budget: 0, results: [Result(failed: 5, cancelled: true, ledgerFailure: Self.full)])
        #expect(during.started == [0] && during.stop?.0 == RunDriver.StopReason.interrupted && during.stop?.1 == 1..<3)
        #expect(during.outcome == .interrupted)
        let before = await Self.drive(waves: 2, budget: 0, before: Result(cancelled: true), results: [])
        #expect(before.started.isEmpty && before.stop?.1 == 0..<2 && before.outcome == .interrupted)
    }

    @Test func aWaveInterruptedBeforeItStartsIsLeftWithTheRest() {
        var driver = RunDriver(waves: 3, budget: 0)
        #expect(driver.start() == .startWave(0))
        #expect(driver.waveEnded(Result()) == .startWave(1))
        // Cancelled between handing out wave 1 and starting it.
        #expect(driver.interruptedBeforeWave() == .stop(.interrupted, remainingFrom: 1))
        #expect(driver.stopped() == .finish)
        #expect(driver.outcome() == .interrupted)
    }

    @Test func aFailureOutsideTheClustersFailsTheRun() {
        var driver = RunDriver(waves: 1, budget: 0)
        #expect(driver.start() == .startWave(0))
        #expect(driver.waveEnded(Result()) == .finish)
        #expect(driver.outcome() == .succeeded)
        #expect(driver.outcome(otherFailure: true) == .failed)
    }

    @Test func noWavesFinishAtOnce() {
        var driver = RunDriver(waves: 0, budget: 0)
        #expect(driver.start() == .finish)
        #expect(driver.outcome() == .succeeded)
    }

    @Test func runIDsSortByStartAndNameTheirCommand() {
        let date = Date(timeIntervalSince1970: 1_796_637_600)  // 2026-12-07 10:00:00 UTC
        let run = RunDriver.newRunID(date)
        let audit = RunDriver.newRunID(prefix: "audit", date)
        #expect(run.hasPrefix("run-20261207-100000-") && run.count == "run-20261207-100000-abcd".count)
        #expect(audit.hasPrefix("audit-20261207-100000-"))
    }
}
