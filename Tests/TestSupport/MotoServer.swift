// moto (an independent AWS stand-in from PyPI) on 127.0.0.1, for tests against a peer fleetstrap did not write.
import FleetSupport
import Foundation

public final class MotoServer: @unchecked Sendable {
    public let port: Int
    private let process: Process

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public static var available: Bool {
        ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/moto_server") } ?? false
    }

    /// Starts moto_server on a free loopback port; it is killed after `lifetime` seconds at the latest.
    public init(lifetime: Int = 600) throws {
        let launcher = """
            import os, signal, socket, sys
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
            s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
            print(port, flush=True)
            os.execvp("timeout", ["timeout", "-s", "KILL", sys.argv[1], "moto_server", "-H", "127.0.0.1", "-p", \
            str(port)])
            """
        (process, port) = try PeerServer.launch(["python3", "-c", launcher, String(lifetime)])
        // Wait until it answers.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if LoopbackPort.isListening(port) { return }
            usleep(100_000)
        }
        stop()
        throw PeerServer.PeerError.noPort("moto_server did not answer on \(port)")
    }

    /// POSTs to moto's own API (`/moto-api/reset`, `/moto-api/reset-auth`).
    public func admin(_ path: String, body: String = "") throws {
        let script = """
            import sys, urllib.request
            r = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST", \
            headers={"Content-Type": "text/plain"})
            urllib.request.urlopen(r, timeout=10).read()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, "\(endpoint)\(path)", body]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PeerServer.PeerError.noPort("moto admin \(path) failed") }
    }

    public func stop() { PeerServer.stop(process) }

    deinit { stop() }
}
