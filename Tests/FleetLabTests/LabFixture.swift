// A lab started in-process for a test, in a folder of its own, with a clock the test can move.
import AWS
import FleetLab
import FleetSupport
import Foundation
import HTTP
import Synchronization

final class LabFixture: @unchecked Sendable {
    let lab: Lab
    let directory: URL
    let clock = MovableClock()
    /// Moves the lab's clock `seconds` ahead of real time.
    func advance(to seconds: TimeInterval) { clock.offset.withLock { $0 = seconds } }

    static let config = LabConfig(
        accounts: [.init(name: "operator", id: "000000000000"), .init(name: "prod", id: "111111111111"), .init(name: "dev", id: "222222222222")],
        users: [
            .init(name: "operator", account: "operator", accessKey: true), .init(name: "flux-prod", account: "prod"),
            .init(name: "flux-dev", account: "dev"),
        ],
        roles: [
            .init(name: "fleetstrap", account: "prod", trust: ["arn:aws:iam::000000000000:user/operator"]),
            .init(name: "fleetstrap", account: "dev", trust: ["000000000000"], externalId: "dev-external"),
            .init(name: "nobody-trusts-you", account: "prod", trust: ["arn:aws:iam::999999999999:root"]),
            .init(name: "irsa", account: "prod", trust: [], webIdentity: true),
        ],
        repositories: [.init(name: "fleet-prod", account: "prod", region: "eu-west-1"), .init(name: "fleet-dev", account: "dev", region: "us-east-1")],
        clusters: [.init(name: "prod-a", account: "prod", region: "eu-west-1"), .init(name: "dev-a", account: "dev", region: "us-east-1")])

    init(ssh: Bool = true) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-lab-\(UUID())")
        var options = Lab.Options(stateDirectory: directory.path, config: Self.config)
        options.ssh = ssh
        let clock = self.clock
        options.now = { Date().addingTimeInterval(clock.offset.withLock { $0 }) }
        lab = try await Lab.start(options)
    }

    func stop() async {
        await lab.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// fleetstrap's own AWS client, pointed at the lab as a user would point it (AWS_ENDPOINT_URL, AWS_CA_BUNDLE).
    func client() throws -> AWSClient {
        var configuration = try AWSClient.Configuration.environment(lab.environment)
        configuration.random = { 0 }
        return AWSClient(configuration: configuration)
    }

    var operatorCredentials: StaticCredentialProvider {
        StaticCredentialProvider(AWSCredentials(accessKeyID: lab.info.accessKeyId, secretAccessKey: lab.info.secretAccessKey))
    }

    /// A role session in `account` (prod or dev).
    func session(_ account: String, client: AWSClient) async throws -> StaticCredentialProvider {
        let id = account == "prod" ? "111111111111" : "222222222222"
        let sts = STSClient(client: client, region: "eu-west-1")
        let credentials = try await sts.assumeRole(
            .init(roleARN: "arn:aws:iam::\(id):role/fleetstrap", sessionName: "test", externalID: account == "dev" ? "dev-external" : nil),
            credentials: operatorCredentials)
        return StaticCredentialProvider(credentials)
    }
}

/// Real time plus an offset the test sets.
final class MovableClock: Sendable {
    let offset = Mutex<TimeInterval>(0)
}

enum Keys {
    /// An SSH key made by ssh-keygen: (private key path, public key line).
    static func make(type: String = "rsa", bits: Int = 2048, in directory: URL, name: String) throws -> (String, String) {
        let path = directory.appendingPathComponent(name).path
        var arguments = ["-q", "-t", type, "-N", "", "-f", path, "-C", name]
        if type == "rsa" { arguments += ["-b", String(bits), "-m", "PEM"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return (path, try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func md5Fingerprint(_ publicKeyPath: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        p.arguments = ["-l", "-E", "md5", "-f", publicKeyPath]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.split(separator: " ")[1].dropFirst("MD5:".count))
    }
}
