// Child processes (git http-backend, git, ssh-keygen, sshd) run on threads of their own: waiting for a child
// blocks, and the server's tasks must not. posix_spawn + waitpid rather than Foundation's Process: under the
// NIO server, Process.waitUntilExit was seen never to notice its child had exited (the child stayed a zombie).
import Foundation
import Synchronization

enum LabProcess {
    struct Output: Sendable {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
    }

    private static let spawnLock = NSLock()

    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: [UInt8] = []
    ) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    continuation.resume(
                        returning: try runBlocking(executable, arguments, environment: environment, input: input))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Spawns, feeds `input`, collects both outputs, reaps. Pipes are close-on-exec, so concurrent spawns do not
    /// leak each other's pipe ends (which would keep a reader from ever seeing end of file).
    static func runBlocking(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: [UInt8] = []
    ) throws -> Output {
        // Pipes are made close-on-exec under one lock with the spawn, so no other spawn inherits them.
        spawnLock.lock()
        var locked = true
        defer { if locked { spawnLock.unlock() } }
        var pipes: [[Int32]] = []
        for _ in 0..<3 {
            var p: [Int32] = [0, 0]
            guard pipe(&p) == 0 else { throw LabFailure("pipe failed: errno \(errno)") }
            _ = fcntl(p[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
            pipes.append(p)
        }
        let inPipe = pipes[0]
        let outPipe = pipes[1]
        let errPipe = pipes[2]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let (pid, spawned) = spawn(
            executable, arguments, environment ?? ProcessInfo.processInfo.environment, &actions, closingFrom: 3)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        spawnLock.unlock()
        locked = false
        guard spawned == 0 else {
            for descriptor in [inPipe[1], outPipe[0], errPipe[0]] { close(descriptor) }
            throw LabFailure("cannot run \(executable): errno \(spawned)")
        }
        let writer = Thread {
            input.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = write(inPipe[1], buffer.baseAddress! + offset, buffer.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(inPipe[1])
        }
        writer.start()
        let errorText = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        let errReader = Thread {
            errorText.withLock { $0 = readAll(errPipe[0]) }
            done.signal()
        }
        errReader.start()
        let out = readAll(outPipe[0])
        done.wait()
        close(outPipe[0])
        close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Output(
            status: exit, stdout: Array(out), stderr: String(decoding: errorText.withLock { $0 }, as: UTF8.self))
    }

    /// Starts a long-running child (sshd), its output to /dev/null, under a watchdog shell that holds the read end of
    /// a lifeline pipe whose write end only this process has: when this process ends, however it ends (a test run
    /// killed, a crash), the pipe reads end of file and the watchdog stops the daemon. Nothing outlives the lab.
    static func spawnDaemon(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> pid_t
    {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        var lifeline: [Int32] = [0, 0]
        guard pipe(&lifeline) == 0 else { throw LabFailure("pipe failed: errno \(errno)") }
        _ = fcntl(lifeline[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(lifeline[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, lifeline[0], 3)
        // The shell lives as long as the daemon (so a daemon that fails to start is seen to), and its watchdog as long
        // as the lifeline: end of file on fd 3 stops the daemon.
        let watchdog = "\"$@\" 3<&- & daemon=$!; { read _ <&3; kill $daemon 2>/dev/null; } & wait $daemon"
        let (pid, spawned) = spawn(
            "/bin/sh", ["-c", watchdog, "sh", executable] + arguments, environment, &actions, closingFrom: 4)
        close(lifeline[0])
        guard spawned == 0 else {
            close(lifeline[1])
            throw LabFailure("cannot run \(executable): errno \(spawned)")
        }
        lifelines.withLock { $0[pid] = lifeline[1] }
        return pid
    }

    /// The write end of each daemon's lifeline, by the watchdog's pid.
    private static let lifelines = Mutex<[pid_t: Int32]>([:])

    /// posix_spawn with default signal dispositions and nothing blocked in the child, whatever our threads block,
    /// and no descriptor of ours from `closingFrom` up: the lab's sockets are not close-on-exec, and a child holding
    /// the listening socket kept it open after the lab closed it. A `git fetch` that connected then sat in its backlog
    /// with nobody to accept, waiting for an answer (git has no timeout there) while the lab's stop waited for it: a
    /// test run hung for good.
    private static func spawn(
        _ executable: String, _ arguments: [String], _ environment: [String: String],
        _ actions: inout posix_spawn_file_actions_t,
        closingFrom: Int32
    ) -> (pid_t, Int32) {
        _ = addCloseFrom?(&actions, closingFrom)  // Debian 12's glibc has it; an older one spawns as before
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        return (pid, result)
    }

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34), declared only under _GNU_SOURCE, which Swift's Glibc
    /// module does not define: looked up by name.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
            else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// True while `pid` (a child of ours) has not exited; reaps it once it has.
    static func isRunning(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGTERM (for a daemon: its lifeline closed, so its watchdog stops it), then SIGKILL after `grace`; always reaps.
    static func terminate(_ pid: pid_t, grace: TimeInterval = 3) {
        if let lifeline = lifelines.withLock({ $0.removeValue(forKey: pid) }) {
            close(lifeline)
        } else {
            kill(pid, SIGTERM)
        }
        let deadline = Date().addingTimeInterval(grace)
        while isRunning(pid) {
            guard Date() < deadline else {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                return
            }
            usleep(10_000)
        }
    }

    private static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                data.append(contentsOf: buffer[0..<n])
            } else if n < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        return data
    }
}
