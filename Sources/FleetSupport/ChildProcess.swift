// Running a helper program (a credential_process, a kubeconfig exec plugin) and reading what it prints: on a thread
// of its own, since waiting for a child blocks.
import Foundation

public enum ChildProcess {
    /// Runs `executable` with `arguments` (and `environment` over the current one); returns its exit status and
    /// standard output. Standard input is empty; standard error passes through to ours.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:])
        async throws -> (status: Int32, stdout: Data)
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                if !environment.isEmpty {
                    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                }
                let out = Pipe()
                process.standardOutput = out
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                    let data = out.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: (process.terminationStatus, data))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
