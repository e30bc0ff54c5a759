// Runs the built `fleetstrap` binary as a user would, capturing its output and exit status.
import Foundation

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum Binary {
    /// The products directory of the running test bundle, where `swift build` put `fleetstrap`.
    static var productsDirectory: URL {
        var url = Bundle.main.bundleURL
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("fleetstrap").path)
        {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `executable`: another program to run instead (a wrapper such as prlimit, given fleetstrap in `arguments`).
    static func run(
        _ arguments: [String], executable: String? = nil, environment: [String: String]? = nil, input: String? = nil
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL =
            executable.map { URL(fileURLWithPath: $0) } ?? productsDirectory.appendingPathComponent("fleetstrap")
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        // Both pipes read at once before waiting: a large output on either cannot fill its pipe and stall the child.
        nonisolated(unsafe) var errData = Data()
        let errRead = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            errRead.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errRead.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
