// Running python3 peers from tests.
import Foundation

/// python3 as a test peer (botocore, boto3, the AWS CLI, moto come from pip).
public enum Python {
    /// True when python3 imports every one of `names`.
    public static func hasModules(_ names: String...) -> Bool {
        (try? run(["-c", "import \(names.joined(separator: ", "))"], input: Data()))?.status == 0
    }

    public static func run(_ arguments: [String], input: Data) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, out, String(decoding: err, as: UTF8.self))
    }
}
