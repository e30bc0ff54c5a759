// One writer per fleet state. A run that changes anything holds, for its whole life, an exclusive lock on its ledger
// (`<ledger>.lock`) and on its state folder (`<state>/run.lock`), and the ledger's lease row (host, pid, command,
// run id, heartbeat). A second process on this host finds the locks taken; one on another host sharing the volume
// (where advisory locks may not reach) finds a lease with a fresh heartbeat. Either waits up to `--wait-lock` or is
// refused naming the holder. A lease whose holder is gone (on this host: it no longer holds the lock; elsewhere: no
// heartbeat for `staleAfter`) is taken over with a notice.
import FleetSupport
import Foundation
import Ledger
import Synchronization

public final class RunLock: Sendable {
    public struct Settings: Sendable {
        /// How long to wait for the holder to finish; zero refuses at once.
        public var wait: Duration = .zero
        /// A lease from another host without a heartbeat for this long belongs to a process that is gone.
        public var staleAfter: Duration = .seconds(60)
        public var heartbeatEvery: Duration = .seconds(10)
        /// How often a waiting process looks again.
        public var poll: Duration = .milliseconds(250)
        public init() {}
    }

    /// The fleet state is held by another run.
    public struct HeldError: FleetError {
        public let holder: LeaseRecord?
        /// What the holder wrote in the lock file, for a holder that has not written its lease yet.
        public let starting: String?
        public let ledgerPath: String
        public let waited: Duration
        public let now: Date

        public var description: String {
            let who =
                holder.map { RunLock.describe($0, now: now) }
                ?? starting.map { "fleetstrap \($0) (starting)" } ?? "another fleetstrap process"
            let waitedText = waited > .zero ? " after waiting \(DurationText.format(waited))" : ""
            return "the fleet state of \(ledgerPath) is held by \(who)\(waitedText)"
        }
        public var errorClass: String { "lock.held" }
        public var hint: String? {
            "let that run finish (fleetstrap runs shows it), or wait for it with --wait-lock DURATION, "
                + "e.g. --wait-lock 30m"
        }
    }

    public let ledger: Ledger
    private let lease: LeaseRecord
    private let descriptors: [Int32]
    private let heartbeat: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let runID = Mutex<String?>(nil)

    private init(ledger: Ledger, lease: LeaseRecord, descriptors: [Int32]) {
        (self.ledger, self.lease, self.descriptors) = (ledger, lease, descriptors)
    }

    /// Takes the fleet state for `command`, waiting up to `settings.wait`; `notice` hears of a stale lease taken over.
    public static func acquire(
        ledger: Ledger, stateDirectory: String, command: String, settings: Settings = Settings(),
        now: @escaping @Sendable () -> Date = Date.init, notice: @Sendable (String) -> Void
    ) async throws -> RunLock {
        let files = [ledger.path + ".lock", stateDirectory + "/run.lock"]
        let host = ProcessInfo.processInfo.hostName
        let pid = getpid()
        let clock = ContinuousClock()
        let started = clock.now
        while true {
            if let descriptors = try lockFiles(files) {
                // Named in the lock file at once: a contender reads it before the lease below is written.
                let name = Array("\(command) as pid \(pid) on \(host)\n".utf8)
                _ = ftruncate(descriptors[0], 0)
                _ = name.withUnsafeBytes { pwrite(descriptors[0], $0.baseAddress, $0.count, 0) }
                let time = now()
                let mine = LeaseRecord(host: host, pid: pid, command: command, acquiredAt: time, heartbeat: time)
                var standing = try ledger.takeLease(mine, replacing: nil)
                if let current = standing, isStale(current, host: host, now: time, staleAfter: settings.staleAfter) {
                    standing = try ledger.takeLease(mine, replacing: current)
                    if standing == nil {
                        notice("took over the fleet state from \(describe(current, now: time)), which is gone")
                    }
                }
                if standing == nil {
                    let lock = RunLock(ledger: ledger, lease: mine, descriptors: descriptors)
                    lock.startHeartbeat(every: settings.heartbeatEvery, now: now)
                    return lock
                }
                for descriptor in descriptors { close(descriptor) }
            }
            let waited = clock.now - started
            if waited >= settings.wait {
                let named = (try? String(contentsOfFile: files[0], encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines)
                throw HeldError(
                    holder: try? ledger.lease(), starting: named?.isEmpty == false ? named : nil,
                    ledgerPath: ledger.path,
                    waited: waited, now: now())
            }
            try await Task.sleep(for: min(settings.poll, settings.wait - waited))
        }
    }

    /// The run the lock is for, written into the lease with the next heartbeat (and now).
    public func attach(runID id: String) {
        runID.withLock { $0 = id }
        try? ledger.renewLease(host: lease.host, pid: lease.pid, runId: id, at: Date())
    }

    /// Ends the heartbeat, gives the lease up and unlocks.
    public func release() async {
        let task = heartbeat.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        try? ledger.releaseLease(host: lease.host, pid: lease.pid)
        for descriptor in descriptors { close(descriptor) }
    }

    private func startHeartbeat(every interval: Duration, now: @escaping @Sendable () -> Date) {
        let task = Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                // A failed heartbeat is not the run's failure: the ledger's own writes report a full disk.
                try? ledger.renewLease(host: lease.host, pid: lease.pid, runId: runID.withLock { $0 }, at: now())
            }
        }
        heartbeat.withLock { $0 = task }
    }

    /// On this host the advisory lock is the truth: whoever left the lease no longer holds the lock we now hold.
    /// From another host only the heartbeat tells.
    static func isStale(_ lease: LeaseRecord, host: String, now: Date, staleAfter: Duration) -> Bool {
        if lease.host == host { return true }
        return now.timeIntervalSince(lease.heartbeat) > staleAfter.seconds
    }

    /// Every file locked (exclusive, not waiting), or none: nil when another process holds one of them.
    private static func lockFiles(_ paths: [String]) throws -> [Int32]? {
        var held: [Int32] = []
        for path in paths {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                let reason = String(cString: strerror(errno))
                for descriptor in held { close(descriptor) }
                throw FleetFailure("cannot open the lock file \(path): \(reason)", errorClass: "lock.open")
            }
            var result: Int32
            repeat { result = flock(descriptor, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
            if result != 0 {
                close(descriptor)
                for descriptor in held { close(descriptor) }
                return nil
            }
            held.append(descriptor)
        }
        return held
    }

    /// `fleetstrap rotate (run run-…) as pid 4242 on host-a since 2026-12-07T10:00:00Z, last heard of 3s ago`
    static func describe(_ lease: LeaseRecord, now: Date) -> String {
        let run = lease.runId.map { " (run \($0))" } ?? ""
        let since = ISO8601DateFormatter().string(from: lease.acquiredAt)
        let heard = DurationText.format(.seconds(max(0, now.timeIntervalSince(lease.heartbeat)).rounded()))
        return
            "fleetstrap \(lease.command)\(run) as pid \(lease.pid) on \(lease.host) since \(since), "
            + "last heard of \(heard) ago"
    }
}
