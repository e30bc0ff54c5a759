// The STS, IAM, EKS and CodeCommit clients against moto: real wire formats from an independent implementation.
import FleetSupport
import Foundation
import HTTP
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("AWS clients against moto", .serialized)
final class MotoTests {
    let moto: MotoServer
    let client: AWSClient
    let anyCredentials = StaticCredentialProvider(
        AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "anything"))

    init() throws {
        try #require(MotoServer.available, "moto_server is not installed: scripts/install-deps.sh installs it")
        moto = try MotoServer(lifetime: 300)
        client = AWSClient(
            configuration: AWSClient.Configuration(
                endpoints: AWSEndpoints(environment: ["AWS_ENDPOINT_URL": moto.endpoint])))
    }

    deinit { moto.stop() }

    /// Calls an API fleetstrap itself does not need (setting moto up), through the same client.
    func raw(_ call: AWSCall, _ credentials: any CredentialProvider) async throws -> [UInt8] {
        try await client.send(call, credentials: credentials).body
    }

    func sshPublicKey() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-key-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let keygen = Process()
        keygen.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        keygen.arguments = [
            "ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", dir.appendingPathComponent("k").path,
        ]
        try keygen.run()
        keygen.waitUntilExit()
        return try String(contentsOf: dir.appendingPathComponent("k.pub"), encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    @Test func assumeRoleAndUseTheSession() async throws {
        let sts = STSClient(client: client, region: "eu-west-1")
        let session = try await sts.assumeRole(
            .init(
                roleARN: "arn:aws:iam::123456789012:role/fleetstrap", sessionName: "fleetstrap", externalID: "ext",
                durationSeconds: 900),
            credentials: anyCredentials)
        #expect(session.accessKeyID.hasPrefix("ASIA"))
        #expect(session.sessionToken != nil)
        #expect(session.expiration != nil)
        #expect(!session.description.contains(session.secretAccessKey.reveal()))
        let identity = try await sts.getCallerIdentity(credentials: StaticCredentialProvider(session))
        #expect(identity.arn.contains("assumed-role/fleetstrap/fleetstrap"))
        #expect(identity.account == "123456789012")
    }

    @Test func sshPublicKeyLifecycle() async throws {
        let iam = IAMClient(client: client)
        _ = try await raw(
            .query(
                .iam, "CreateUser", version: "2010-05-08", region: "us-east-1", account: "t",
                parameters: [("UserName", "flux-prod")]), anyCredentials)
        var uploaded: [IAMClient.SSHPublicKey] = []
        for _ in 0..<3 {
            uploaded.append(
                try await iam.uploadSSHPublicKey(
                    userName: "flux-prod", publicKey: try sshPublicKey(), credentials: anyCredentials))
        }
        #expect(uploaded.allSatisfy { $0.keyID.hasPrefix("APKA") && $0.status == .active })
        let listed = try await iam.listSSHPublicKeys(userName: "flux-prod", credentials: anyCredentials, pageSize: 1)
        #expect(Set(listed.map(\.keyID)) == Set(uploaded.map(\.keyID)), "pagination with Marker collects every page")
        let first = uploaded[0].keyID
        try await iam.updateSSHPublicKey(
            userName: "flux-prod", keyID: first, status: .inactive, credentials: anyCredentials)
        let got = try await iam.getSSHPublicKey(userName: "flux-prod", keyID: first, credentials: anyCredentials)
        #expect(got.status == .inactive)
        #expect(got.body?.hasPrefix("ssh-rsa ") == true)
        try await iam.deleteSSHPublicKey(userName: "flux-prod", keyID: first, credentials: anyCredentials)
        let after = try await iam.listSSHPublicKeys(userName: "flux-prod", credentials: anyCredentials)
        #expect(after.count == 2)
        await #expect {
            try await iam.getSSHPublicKey(userName: "flux-prod", keyID: first, credentials: anyCredentials)
        } throws: { error in
            (error as? AWSError)?.code == "NoSuchEntity"
        }
    }

    @Test func describeClusterAndGetRepository() async throws {
        var create = AWSCall(service: .eks, operation: "CreateCluster", region: "eu-west-1", account: "t")
        create.path = "/clusters"
        create.headers = [("Content-Type", "application/json")]
        create.body = Array(
            #"{"name":"prod-a","roleArn":"arn:aws:iam::123456789012:role/eks","resourcesVpcConfig":{}}"#.utf8)
        _ = try await raw(create, anyCredentials)
        let cluster = try await EKSClient(client: client, region: "eu-west-1").describeCluster(
            name: "prod-a", credentials: anyCredentials)
        #expect(cluster.name == "prod-a")
        #expect(cluster.endpoint.hasPrefix("https://"))
        #expect(!cluster.certificateAuthorityPEM.isEmpty)
        await #expect {
            try await EKSClient(client: client, region: "eu-west-1").describeCluster(
                name: "missing", credentials: anyCredentials)
        } throws: { error in
            (error as? AWSError)?.code == "ResourceNotFoundException" && (error as? AWSError)?.status == 404
        }

        var repo = AWSCall(service: .codecommit, operation: "CreateRepository", region: "eu-west-1", account: "t")
        repo.headers = [
            ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "CodeCommit_20150413.CreateRepository"),
        ]
        repo.body = Array(#"{"repositoryName":"fleet"}"#.utf8)
        _ = try await raw(repo, anyCredentials)
        let codecommit = CodeCommitClient(client: client, region: "eu-west-1")
        let info = try await codecommit.getRepository(name: "fleet", credentials: anyCredentials)
        #expect(info.cloneURLSSH == "ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        #expect(info.cloneURLHTTP == "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        await #expect {
            try await codecommit.getRepository(name: "nope", credentials: anyCredentials)
        } throws: { error in
            (error as? AWSError)?.code == "RepositoryDoesNotExistException"
        }
    }

    @Test func wrongSecretIsATypedSignatureError() async throws {
        _ = try await raw(
            .query(
                .iam, "CreateUser", version: "2010-05-08", region: "us-east-1", account: "t",
                parameters: [("UserName", "signer")]), anyCredentials)
        let body = try await raw(
            .query(
                .iam, "CreateAccessKey", version: "2010-05-08", region: "us-east-1", account: "t",
                parameters: [("UserName", "signer")]), anyCredentials)
        let xml = try #require(XMLNode.parse(body))
        let id = try #require(xml.find("AccessKeyId")?.text)
        let secret = try #require(xml.find("SecretAccessKey")?.text)
        try moto.admin("/moto-api/reset-auth", body: "0")
        defer { try? moto.admin("/moto-api/reset-auth", body: "-1") }
        let sts = STSClient(client: client, region: "us-east-1")
        let good = StaticCredentialProvider(AWSCredentials(accessKeyID: id, secretAccessKey: secret))
        let identity = try await sts.getCallerIdentity(credentials: good)
        #expect(identity.arn.hasSuffix(":user/signer"))
        let wrong = StaticCredentialProvider(AWSCredentials(accessKeyID: id, secretAccessKey: "not-the-secret"))
        await #expect {
            try await sts.getCallerIdentity(credentials: wrong)
        } throws: { error in
            guard let e = error as? AWSError else { return false }
            return e.code == "SignatureDoesNotMatch" && e.status == 403 && e.hint != nil
                && !e.description.contains("not-the-secret") && e.errorClass == "aws.SignatureDoesNotMatch"
        }
    }
}
