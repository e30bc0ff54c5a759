// A lab started in-process for a test, in a folder of its own, with a clock the test can move.
import AWS
import FleetLab
import FleetSupport
import Foundation
import HTTP
import SigV4
import Synchronization
import TestSupport

public final class LabFixture: @unchecked Sendable {
    public let lab: Lab
    /// The lab's state folder; removed by `stop()`, or with the fixture when a test ended before calling it.
    private let folder: TemporaryFolder
    public var directory: URL { folder.url }
    public let clock = MovableClock()
    /// Moves the lab's clock `seconds` ahead of real time.
    public func advance(to seconds: TimeInterval) { clock.offset.withLock { $0 = seconds } }

    public static let config = LabConfig(
        accounts: [
            .init(name: "operator", id: "000000000000"), .init(name: "prod", id: "111111111111"),
            .init(name: "dev", id: "222222222222"),
        ],
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
        repositories: [
            .init(name: "fleet-prod", account: "prod", region: "eu-west-1"),
            .init(name: "fleet-dev", account: "dev", region: "us-east-1"),
        ],
        clusters: [
            .init(name: "prod-a", account: "prod", region: "eu-west-1"),
            .init(name: "dev-a", account: "dev", region: "us-east-1"),
        ])

    public init(ssh: Bool = true, config: LabConfig = LabFixture.config) async throws {
        folder = try TemporaryFolder("fleetstrap-lab")
        let directory = folder.url
        var options = Lab.Options(stateDirectory: directory.path, config: config)
        options.ssh = ssh
        let clock = self.clock
        options.now = { Date().addingTimeInterval(clock.offset.withLock { $0 }) }
        lab = try await Lab.start(options)
    }

    public func stop() async {
        await lab.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Starts a lab, runs `body` with it and stops it whether `body` returned or threw: a test's lab is gone before the
/// next test starts (a `defer` cannot await the stop).
public func withLab<T>(
    ssh: Bool = true, config: LabConfig = LabFixture.config, _ body: (LabFixture) async throws -> T
) async throws -> T {
    let fixture = try await LabFixture(ssh: ssh, config: config)
    do {
        let value = try await body(fixture)
        await fixture.stop()
        return value
    } catch {
        await fixture.stop()
        throw error
    }
}

extension LabFixture {

    /// fleetstrap's own AWS client, pointed at the lab as a user would point it (AWS_ENDPOINT_URL, AWS_CA_BUNDLE).
    public func client() throws -> AWSClient {
        var configuration = try AWSClient.Configuration.environment(lab.environment)
        configuration.random = { 0 }
        return AWSClient(configuration: configuration)
    }

    public var operatorCredentials: StaticCredentialProvider {
        StaticCredentialProvider(
            AWSCredentials(accessKeyID: lab.info.accessKeyId, secretAccessKey: lab.info.secretAccessKey))
    }

    /// A role session in `account` (prod or dev).
    public func session(_ account: String, client: AWSClient) async throws -> StaticCredentialProvider {
        let id = account == "prod" ? "111111111111" : "222222222222"
        let sts = STSClient(client: client, region: "eu-west-1")
        let credentials = try await sts.assumeRole(
            .init(
                roleARN: "arn:aws:iam::\(id):role/fleetstrap", sessionName: "test",
                externalID: account == "dev" ? "dev-external" : nil),
            credentials: operatorCredentials)
        return StaticCredentialProvider(credentials)
    }
}

/// A lab cluster as a client reaches it: DescribeCluster's endpoint and CA, and an EKS token.
public struct LabCluster: Sendable {
    public let endpoint: String
    public let ca: [UInt8]
    public let token: String

    public func call(
        _ path: String, method: String = "GET", body: String = "", contentType: String? = nil,
        accept: String = "application/json", token: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> HTTPResponse {
        var headers = [("Authorization", "Bearer \(token ?? self.token)"), ("Accept", accept)]
        if let contentType { headers.append(("Content-Type", contentType)) }
        var request = HTTPRequest(
            method: method, url: endpoint + path, headers: headers, body: Array(body.utf8), trust: .pem(ca))
        request.timeout = timeout
        return try await HTTPClient.shared.execute(request)
    }

    /// Server-side apply of a YAML object at its resource path.
    @discardableResult
    public func apply(_ path: String, _ yaml: String, manager: String = "flux") async throws -> HTTPResponse {
        try await call(
            path + "?fieldManager=\(manager)&force=true", method: "PATCH", body: yaml,
            contentType: "application/apply-patch+yaml")
    }

    public func get(_ path: String) async throws -> JSONValue? { JSONValue.parse(try await call(path).body) }

    /// Polls `path` until `condition` holds for the object (at most `seconds`); returns the last object read.
    public func wait(_ path: String, seconds: Double = 20, until condition: (JSONValue) -> Bool) async throws
        -> JSONValue?
    {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JSONValue?
        repeat {
            last = try await get(path)
            if let last, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        return last
    }
}

extension LabFixture {
    /// Describes `cluster` as its owner and signs an EKS token as `account`'s fleetstrap role.
    public func connect(cluster: String = "prod-a", as account: String = "prod", region: String = "eu-west-1")
        async throws -> LabCluster
    {
        let client = try client()
        let caller = try await session(account, client: client)
        let owner = try await self.session(cluster.hasPrefix("prod") ? "prod" : "dev", client: client)
        let info = try await EKSClient(client: client, region: region).describeCluster(
            name: cluster, credentials: owner)
        let token = EKSToken.make(
            clusterName: cluster, region: region, credentials: try await caller.credentials(), date: Date(),
            stsHost: client.configuration.endpoints.stsHost(region: region))
        return LabCluster(endpoint: info.endpoint, ca: info.certificateAuthorityPEM, token: token.token.reveal())
    }
}

/// Real time plus an offset the test sets.
public final class MovableClock: Sendable {
    public init() {}
    public let offset = Mutex<TimeInterval>(0)
}

public enum Keys {
    /// An SSH key made by ssh-keygen: (private key path, public key line).
    public static func make(type: String = "rsa", bits: Int = 2048, in directory: URL, name: String) throws -> (
        String, String
    ) {
        let path = directory.appendingPathComponent(name).path
        var arguments = ["-q", "-t", type, "-N", "", "-f", path, "-C", name]
        if type == "rsa" { arguments += ["-b", String(bits), "-m", "PEM"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return (
            path,
            try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }

    public static func md5Fingerprint(_ publicKeyPath: String) throws -> String {
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
