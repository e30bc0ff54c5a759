// One writer per fleet state: a second holder is refused naming the first, waits when told to, and takes over a
// lease whose holder is gone (on this host at once; from another host once its heartbeat is stale).
import Fleet
import Foundation
import Ledger
import Synchronization
import TestSupport
import Testing

@Suite("Run lock")
struct RunLockTests {
    let folder: TemporaryFolder
    let ledger: Ledger
    var state: String { folder.path + "/state" }

    init() throws {
        folder = try TemporaryFolder("run-lock")
        ledger = try Ledger(path: folder.path + "/fleetstrap.db")
        try FileManager.default.createDirectory(atPath: folder.path + "/state", withIntermediateDirectories: true)
    }

    static func settings(wait: Duration = .zero) -> RunLock.Settings {
        var settings = RunLock.Settings()
        settings.wait = wait
        settings.poll = .milliseconds(20)
        return settings
    }

    @Test func aSecondHolderIsRefusedNamingTheFirst() async throws {
        let first = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "rotate", notice: { _ in })
        first.attach(runID: "run-20261207-100000-abcd")
        let error = await #expect(throws: RunLock.HeldError.self) {
            _ = try await RunLock.acquire(
                ledger: self.ledger, stateDirectory: self.state, command: "bootstrap", notice: { _ in })
        }
        let text = try #require(error).description
        #expect(
            text.contains("is held by fleetstrap rotate (run run-20261207-100000-abcd) as pid \(getpid()) on "),
            "\(text)")
        #expect(error?.errorClass == "lock.held" && error?.hint?.contains("--wait-lock") == true)
        await first.release()
        #expect(try ledger.lease() == nil, "the lease goes with the lock")
        // Given a moment: a child another test spawns holds a copy of the descriptor until it execs.
        let again = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "bootstrap", settings: Self.settings(wait: .seconds(10)),
            notice: { _ in })
        #expect(try ledger.lease()?.command == "bootstrap")
        await again.release()
    }

    @Test func theSameStateFolderWithAnotherLedgerIsHeldToo() async throws {
        let first = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "bootstrap", notice: { _ in })
        let other = try Ledger(path: folder.path + "/other.db")
        await #expect(throws: RunLock.HeldError.self) {
            _ = try await RunLock.acquire(
                ledger: other, stateDirectory: self.state, command: "rotate", notice: { _ in })
        }
        await first.release()
    }

    @Test func aWaiterGetsTheStateWhenTheHolderEnds() async throws {
        let first = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "bootstrap", notice: { _ in })
        let (ledger, state) = (ledger, state)
        let waiter = Task {
            try await RunLock.acquire(
                ledger: ledger, stateDirectory: state, command: "rotate", settings: Self.settings(wait: .seconds(30)),
                notice: { _ in })
        }
        // The waiter cannot have it while the first holds it; it gets it as soon as the first lets go.
        #expect(try ledger.lease()?.command == "bootstrap")
        await first.release()
        let second = try await waiter.value
        #expect(try ledger.lease()?.command == "rotate")
        await second.release()
    }

    @Test func aLeaseLeftOnThisHostIsTakenOverWithANotice() async throws {
        let host = ProcessInfo.processInfo.hostName
        let old = Date(timeIntervalSinceNow: -5)
        let left = LeaseRecord(
            host: host, pid: 999_999, command: "rotate", runId: "run-x", acquiredAt: old, heartbeat: old)
        #expect(try ledger.takeLease(left, replacing: nil) == nil)
        let notices = Mutex<[String]>([])
        let lock = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "bootstrap", settings: Self.settings(wait: .seconds(10)),
            notice: { text in notices.withLock { $0.append(text) } })
        let said = notices.withLock { $0 }
        #expect(
            said.count == 1
                && said[0].contains("took over the fleet state from fleetstrap rotate (run run-x) as pid 999999"))
        #expect(try ledger.lease()?.pid == getpid())
        await lock.release()
    }

    @Test func anotherHostsLeaseHoldsWhileItsHeartbeatIsFreshAndIsTakenOverOnceStale() async throws {
        let fresh = Date()
        let elsewhere = LeaseRecord(
            host: "ci-runner-7", pid: 42, command: "rotate", acquiredAt: fresh, heartbeat: fresh)
        #expect(try ledger.takeLease(elsewhere, replacing: nil) == nil)
        let error = await #expect(throws: RunLock.HeldError.self) {
            _ = try await RunLock.acquire(
                ledger: self.ledger, stateDirectory: self.state, command: "bootstrap", notice: { _ in })
        }
        #expect(error?.description.contains("fleetstrap rotate as pid 42 on ci-runner-7") == true)
        // The advisory locks were given back when refused: nothing of this process holds the state.
        #expect(try ledger.lease()?.host == "ci-runner-7")

        let stale = Date(timeIntervalSinceNow: -120)
        try ledger.renewLease(host: "ci-runner-7", pid: 42, runId: nil, at: stale)
        let notices = Mutex<[String]>([])
        let lock = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "bootstrap", settings: Self.settings(wait: .seconds(10)),
            notice: { text in notices.withLock { $0.append(text) } })
        #expect(notices.withLock { $0 }.first?.contains("on ci-runner-7") == true)
        #expect(try ledger.lease()?.host == ProcessInfo.processInfo.hostName)
        await lock.release()
    }

    @Test func theHeartbeatMovesWhileHeld() async throws {
        var settings = Self.settings()
        settings.heartbeatEvery = .milliseconds(50)
        let lock = try await RunLock.acquire(
            ledger: ledger, stateDirectory: state, command: "rotate", settings: settings, notice: { _ in })
        let first = try #require(try ledger.lease()).heartbeat
        var moved = false
        for _ in 0..<200 where !moved {
            try await Task.sleep(for: .milliseconds(20))
            moved = try #require(try ledger.lease()).heartbeat > first
        }
        #expect(moved)
        await lock.release()
    }
}
