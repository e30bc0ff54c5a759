// Programs the fleet benchmark starts (the lab, fleetstrap), spawned directly so that `wait4` hands back what each
// one cost: CPU time and peak resident memory, which `Process` does not report.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct ChildRun {
    let pid: pid_t
    let started: ContinuousClock.Instant

    struct Usage: Codable {
        var status: Int32
        var wallSeconds: Double
        var cpuSeconds: Double
        var peakRSSMegabytes: Double
    }

    /// Starts `executable` with `arguments` and exactly `environment`; its output (both streams) goes to `log`.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String], log: String) throws
        -> ChildRun
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let started = ContinuousClock.now
        let code = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard code == 0 else { throw BenchFailure("cannot start \(executable): \(String(cString: strerror(code)))") }
        return ChildRun(pid: pid, started: started)
    }

    /// Waits for the child to end; its status (128 + signal when killed), wall time, CPU time and peak RSS.
    func wait() -> Usage {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
        let wall = (ContinuousClock.now - started).seconds
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Usage(status: exit, wallSeconds: wall, cpuSeconds: cpu, peakRSSMegabytes: Double(usage.ru_maxrss) / 1024)
    }

    func terminate() { kill(pid, SIGTERM) }

    /// Runs a program to its end and returns what it printed on standard output (for short helper commands).
    static func output(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchFailure("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
