// fleetstrap's AWS clients against the lab: what the lab accepts and what it refuses, with AWS's codes.
import AWS
import FleetLab
import FleetSupport
import Foundation
import HTTP
import LabSupport
import SigV4
import Testing

@Suite("Lab: AWS endpoints", .serialized)
struct LabAWSTests {
    @Test func startsAndWritesWhatAClientNeeds() async throws {
        try await withLab(ssh: false) { fixture in
            #expect(fixture.lab.info.endpoint.hasPrefix("https://127.0.0.1:"))
            let json = try Data(contentsOf: fixture.directory.appendingPathComponent("lab.json"))
            let info = try JSONDecoder().decode(Lab.Info.self, from: json)
            #expect(info.accessKeyId.hasPrefix("AKIA"))
            let mode =
                try FileManager.default.attributesOfItem(
                    atPath: fixture.directory.appendingPathComponent("lab.json").path)[
                    .posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(
                String(
                    decoding: try Data(contentsOf: fixture.directory.appendingPathComponent("lab.env")), as: UTF8.self
                )
                .contains("export AWS_ENDPOINT_URL='https://127.0.0.1:"))
        }
    }

    @Test func stsIdentitiesRolesAndTrust() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let sts = STSClient(client: client, region: "eu-west-1")
            let me = try await sts.getCallerIdentity(credentials: fixture.operatorCredentials)
            #expect(me.arn == "arn:aws:iam::000000000000:user/operator" && me.account == "000000000000")
            let prod = try await fixture.session("prod", client: client)
            let prodIdentity = try await sts.getCallerIdentity(credentials: prod)
            #expect(prodIdentity.arn == "arn:aws:sts::111111111111:assumed-role/fleetstrap/test")
            #expect(try await prod.credentials().accessKeyID.hasPrefix("ASIA"))
            // Role chaining is allowed (one hour at most); a role nobody trusts us for is not.
            await #expect {
                try await sts.assumeRole(
                    .init(roleARN: "arn:aws:iam::111111111111:role/nobody-trusts-you", sessionName: "xx"),
                    credentials: fixture.operatorCredentials)
            } throws: { ($0 as? AWSError)?.code == "AccessDenied" }
            // The dev role wants its external id.
            await #expect {
                try await sts.assumeRole(
                    .init(roleARN: "arn:aws:iam::222222222222:role/fleetstrap", sessionName: "xx"),
                    credentials: fixture.operatorCredentials)
            } throws: { ($0 as? AWSError)?.code == "AccessDenied" }
            _ = try await fixture.session("dev", client: client)
            await #expect {
                try await sts.assumeRole(
                    .init(roleARN: "arn:aws:iam::111111111111:role/fleetstrap", sessionName: "xx", durationSeconds: 60),
                    credentials: fixture.operatorCredentials)
            } throws: { ($0 as? AWSError)?.code == "ValidationError" }
            // IRSA.
            let web = try await sts.assumeRoleWithWebIdentity(
                roleARN: "arn:aws:iam::111111111111:role/irsa", sessionName: "pod", token: Secret("a.b.c"))
            #expect(web.accessKeyID.hasPrefix("ASIA"))
        }
    }

    @Test func signaturesAreVerified() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let sts = STSClient(client: client, region: "eu-west-1")
            let wrongSecret = StaticCredentialProvider(
                AWSCredentials(accessKeyID: fixture.lab.info.accessKeyId, secretAccessKey: "wrong"))
            await #expect {
                try await sts.getCallerIdentity(credentials: wrongSecret)
            } throws: { ($0 as? AWSError)?.code == "SignatureDoesNotMatch" && ($0 as? AWSError)?.status == 403 }
            let unknown = StaticCredentialProvider(
                AWSCredentials(accessKeyID: "AKIANOTKNOWN00000000", secretAccessKey: "x"))
            await #expect {
                try await sts.getCallerIdentity(credentials: unknown)
            } throws: { ($0 as? AWSError)?.code == "InvalidClientTokenId" }
            await #expect {
                try await EKSClient(client: client, region: "eu-west-1").describeCluster(
                    name: "prod-a", credentials: wrongSecret)
            } throws: { ($0 as? AWSError)?.code == "InvalidSignatureException" }
            // A session, then time passes beyond its expiry.
            let prod = try await fixture.session("prod", client: client)
            fixture.advance(to: 2 * 3600)
            await #expect {
                try await sts.getCallerIdentity(credentials: prod)
            } throws: { ($0 as? AWSError)?.code == "ExpiredToken" }
            // A request signed long ago (the clock moved) is refused as expired.
            await #expect {
                try await sts.getCallerIdentity(credentials: fixture.operatorCredentials)
            } throws: { ($0 as? AWSError)?.message.hasPrefix("Signature expired") == true }
        }
    }

    @Test func eksTokensAreAcceptedAsPresignedGetCallerIdentity() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            let token = EKSToken.make(
                clusterName: "prod-a", region: "eu-west-1", credentials: try await prod.credentials(), date: Date(),
                stsHost: client.configuration.endpoints.stsHost(region: "eu-west-1"))
            let url = String(
                decoding: Base64URL.decode(token.token.reveal().dropFirst(EKSToken.prefix.count))!, as: UTF8.self)
            let response = try await HTTPClient.shared.execute(
                HTTPRequest(url: url, headers: [("x-k8s-aws-id", "prod-a")], trust: client.configuration.trust))
            #expect(response.status == 200, "\(response.bodyText)")
            #expect(response.bodyText.contains("<Arn>arn:aws:sts::111111111111:assumed-role/fleetstrap/test</Arn>"))
            // The cluster name is signed: another one is refused.
            let forged = try await HTTPClient.shared.execute(
                HTTPRequest(url: url, headers: [("x-k8s-aws-id", "dev-a")], trust: client.configuration.trust))
            #expect(forged.status == 403)
        }
    }

    @Test func iamSSHKeysFollowIAMsRules() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            let iam = IAMClient(client: client)
            let keys = fixture.directory.appendingPathComponent("keys")
            try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)

            func refused(_ body: String, _ code: String) async {
                await #expect {
                    try await iam.uploadSSHPublicKey(userName: "flux-prod", publicKey: body, credentials: prod)
                } throws: { ($0 as? AWSError)?.code == code }
            }
            await refused(try Keys.make(type: "ed25519", in: keys, name: "ed").1, "InvalidPublicKey")
            await refused(try Keys.make(type: "ecdsa", in: keys, name: "ec").1, "InvalidPublicKey")
            await refused(try Keys.make(bits: 1024, in: keys, name: "short").1, "InvalidPublicKey")
            await refused("ssh-rsa not-base64!!", "UnrecognizedPublicKeyEncoding")
            await refused("hello", "UnrecognizedPublicKeyEncoding")

            var uploaded: [IAMClient.SSHPublicKey] = []
            for i in 0..<5 {
                let (path, line) = try Keys.make(in: keys, name: "k\(i)")
                let key = try await iam.uploadSSHPublicKey(userName: "flux-prod", publicKey: line, credentials: prod)
                #expect(key.keyID.wholeMatch(of: /APKA[A-Z0-9]{16}/) != nil)
                #expect(key.fingerprint == (try Keys.md5Fingerprint(path + ".pub")))
                uploaded.append(key)
            }
            let (_, sixth) = try Keys.make(in: keys, name: "k5")
            await refused(sixth, "LimitExceeded")
            let first = try String(contentsOfFile: keys.appendingPathComponent("k0.pub").path, encoding: .utf8)
            try await iam.deleteSSHPublicKey(userName: "flux-prod", keyID: uploaded[4].keyID, credentials: prod)
            await refused(first, "DuplicateSSHPublicKey")
            let listed = try await iam.listSSHPublicKeys(userName: "flux-prod", credentials: prod, pageSize: 2)
            #expect(listed.map(\.keyID) == uploaded.prefix(4).map(\.keyID), "three pages, in upload order")
            try await iam.updateSSHPublicKey(
                userName: "flux-prod", keyID: uploaded[0].keyID, status: .inactive, credentials: prod)
            #expect(
                try await iam.getSSHPublicKey(userName: "flux-prod", keyID: uploaded[0].keyID, credentials: prod).status
                    == .inactive)
            await #expect {
                try await iam.listSSHPublicKeys(userName: "flux-nobody", credentials: prod)
            } throws: { ($0 as? AWSError)?.code == "NoSuchEntity" }
            // PEM public keys are accepted too, with the fingerprint of the same key in OpenSSH form.
            let export = Process()
            export.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
            export.arguments = ["-e", "-m", "PKCS8", "-f", keys.appendingPathComponent("k5.pub").path]
            let out = Pipe()
            export.standardOutput = out
            try export.run()
            let pem = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            export.waitUntilExit()
            #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            let fromPEM = try await iam.uploadSSHPublicKey(userName: "flux-prod", publicKey: pem, credentials: prod)
            #expect(fromPEM.fingerprint == (try Keys.md5Fingerprint(keys.appendingPathComponent("k5.pub").path)))
            #expect(fromPEM.body?.hasPrefix("ssh-rsa AAAA") == true)
            // IAM is per account: the dev session cannot see prod's machine user.
            let dev = try await fixture.session("dev", client: client)
            await #expect {
                try await iam.listSSHPublicKeys(userName: "flux-prod", credentials: dev)
            } throws: { ($0 as? AWSError)?.code == "NoSuchEntity" }
        }
    }

    @Test func describeClusterAndGetRepository() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            let cluster = try await EKSClient(client: client, region: "eu-west-1").describeCluster(
                name: "prod-a", credentials: prod)
            #expect(cluster.arn == "arn:aws:eks:eu-west-1:111111111111:cluster/prod-a")
            #expect(
                String(decoding: cluster.certificateAuthorityPEM, as: UTF8.self).hasPrefix(
                    "-----BEGIN CERTIFICATE-----"))
            await #expect {
                try await EKSClient(client: client, region: "eu-west-1").describeCluster(
                    name: "dev-a", credentials: prod)
            } throws: { ($0 as? AWSError)?.code == "ResourceNotFoundException" }
            let repo = try await CodeCommitClient(client: client, region: "eu-west-1").getRepository(
                name: "fleet-prod", credentials: prod)
            #expect(repo.cloneURLHTTP == "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod")
            #expect(repo.accountID == "111111111111")
            await #expect {
                try await CodeCommitClient(client: client, region: "us-east-1").getRepository(
                    name: "fleet-prod", credentials: prod)
            } throws: { ($0 as? AWSError)?.code == "RepositoryDoesNotExistException" }
            #expect(fixture.lab.counters().operations["eks:DescribeCluster"] == 2)
        }
    }
}
