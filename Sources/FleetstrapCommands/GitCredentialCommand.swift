// `fleetstrap git-credential`: a Git credential helper for CodeCommit over HTTPS with IAM credentials, a drop-in
// for `aws codecommit credential-helper` (same username and password for the same credentials and second).
import AWS
import ArgumentParser
import Foundation
import SigV4

struct GitCredentialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "git-credential",
        abstract: "A Git credential helper for AWS CodeCommit (SigV4 Git passwords from IAM credentials).",
        discussion: """
            git config --global credential.helper '!fleetstrap git-credential'
            git config --global credential.UseHttpPath true
            CodeCommit signs the repository path, so Git must send it (UseHttpPath). Only CodeCommit hosts are
            answered unless --ignore-host-check is given (then the region comes from --region or the environment).
            """)

    enum Operation: String, ExpressibleByArgument, CaseIterable { case get, store, erase }

    @Argument(help: "get, store or erase (store and erase do nothing: the password is computed, never kept).")
    var operation: Operation

    @Flag(help: "Answer for any host, not only git-codecommit.<region>.amazonaws.com.")
    var ignoreHostCheck = false

    @Option(help: "Region for hosts that do not name one.")
    var region: String?

    @Option(help: "The profile to use (default: AWS_PROFILE).")
    var profile: String?

    func run() async throws {
        let input = Self.parse(readStandardInput())
        guard operation == .get else { return }
        guard let host = input["host"], input["protocol"] == "https" else { return }
        let codecommitRegion = CodeCommitGitCredentials.region(ofHost: host)
        guard codecommitRegion != nil || ignoreHostCheck else { return }
        guard let rawPath = input["path"], !rawPath.isEmpty else {
            var stderr = StandardError()
            print(
                """
                fleetstrap git-credential: Git did not send the repository path, which CodeCommit signs; run: git \
                config --global credential.UseHttpPath true
                """,
                to: &stderr)
            return
        }
        var variables = ProcessInfo.processInfo.environment
        if let profile { variables["AWS_PROFILE"] = profile }
        let aws: AWSEnvironment
        do { aws = try AWSEnvironment(variables: variables) } catch { throw CommandFailure.couldNotStart("\(error)") }
        guard let signingRegion = codecommitRegion ?? region ?? aws.region else {
            throw CommandFailure.invalidInput("no region for host \(host): pass --region or set AWS_REGION")
        }
        let path = "/" + rawPath.drop(while: { $0 == "/" })
        do {
            let credentials = try await aws.defaultCredentials(region: signingRegion).credentials()
            let git = CodeCommitGitCredentials.make(
                host: host, path: path, region: signingRegion, credentials: credentials, date: Date())
            FileHandle.standardOutput.write(Data("username=\(git.username)\npassword=\(git.password.reveal())\n".utf8))
        } catch {
            throw CommandFailure.couldNotStart(describe(error))
        }
    }

    /// Git's credential protocol: `key=value` lines up to a blank line or the end.
    static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let l = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if l.isEmpty { if !values.isEmpty { break } else { continue } }
            guard let eq = l.firstIndex(of: "=") else { continue }
            values[String(l[..<eq])] = String(l[l.index(after: eq)...])
        }
        return values
    }

    private func readStandardInput() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
}
