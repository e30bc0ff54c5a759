// Starts peer_server.py (or another local peer) for a test, on 127.0.0.1, and stops it by its PID.
import FleetSupport
import Foundation

public final class PeerServer: @unchecked Sendable {
    public let port: Int
    public let process: Process
    public let directory: URL

    public static let scriptDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// Runs `peer_server.py` with `arguments`; with `tls`, a fresh self-signed certificate for 127.0.0.1 and localhost.
    public init(tls: Bool = false, arguments: [String] = [], lifetime: Int = 120) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-peer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var args = [Self.scriptDirectory.appendingPathComponent("peer_server.py").path, "--lifetime", String(lifetime)]
        if tls {
            try Self.makeCertificate(in: directory)
            args += [
                "--tls-cert", directory.appendingPathComponent("cert.pem").path,
                "--tls-key", directory.appendingPathComponent("key.pem").path,
            ]
        }
        (process, port) = try Self.launch(["python3"] + args + arguments)
    }

    /// The PEM of the server's self-signed certificate (its own CA).
    public var certificatePEM: [UInt8] {
        (try? Array(Data(contentsOf: directory.appendingPathComponent("cert.pem")))) ?? []
    }

    /// Starts `command`, whose first stdout line is the port it listens on.
    public static func launch(_ command: [String], environment: [String: String]? = nil) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        if let environment { process.environment = environment }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var line = Data()
        let handle = out.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)) else {
            process.terminate()
            throw PeerError.noPort(command.joined(separator: " "))
        }
        return (process, port)
    }

    public enum PeerError: Error { case noPort(String) }

    static func makeCertificate(in directory: URL) throws {
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", directory.appendingPathComponent("key.pem").path,
            "-out", directory.appendingPathComponent("cert.pem").path, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
    }

    public func stop() {
        Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    /// SIGTERM to a process this test started, then SIGKILL if it is still there after two seconds.
    public static func stop(_ process: Process) {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Runs a command to completion on a thread of its own, so that waiting for it never holds one of the few
/// threads of Swift's cooperative pool (a lab served from the same process needs them to answer it).
public func runCommand(_ arguments: [String], environment: [String: String]? = nil) async throws
    -> (status: Int32, stdout: Data, stderr: String)
{
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            if let environment { process.environment = environment }
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            nonisolated(unsafe) var errData = Data()
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                errData = err.fileHandleForReading.readDataToEndOfFile()
                done.signal()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            done.wait()
            process.waitUntilExit()
            continuation.resume(
                returning: (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self)))
        }
    }
}
