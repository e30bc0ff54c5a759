// `eks-token` and `git-credential` against the AWS CLI: the same bytes for the same credentials and instant.
import FleetSupport
import Foundation
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("eks-token and git-credential (binary, against awscli)")
struct AWSCommandTests {
    static var awscliAvailable: Bool { Python.hasModules("awscli") }

    let baseEnvironment: [String: String] = [
        "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": "/nonexistent",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLETOKEN/+=",
    ]

    func awscli(at time: String, _ arguments: [String], input: String = "") throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("awscli_at.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, time] + arguments
        p.environment = baseEnvironment
        let out = Pipe()
        let inp = Pipe()
        p.standardOutput = out
        p.standardInput = inp
        try p.run()
        inp.fileHandleForWriting.write(Data(input.utf8))
        try inp.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    var credentials: AWSCredentials {
        AWSCredentials(
            accessKeyID: baseEnvironment["AWS_ACCESS_KEY_ID"]!,
            secretAccessKey: baseEnvironment["AWS_SECRET_ACCESS_KEY"]!,
            sessionToken: baseEnvironment["AWS_SESSION_TOKEN"])
    }

    @Test(arguments: ["us-east-1", "eu-west-1", "ap-southeast-2"])
    func eksTokenIsByteIdenticalToAwscli(region: String) throws {
        try #require(Self.awscliAvailable, "the AWS CLI is not installed: scripts/install-deps.sh installs it")
        let date = AWSTimestamp.parseISO8601("2024-01-02T03:04:05Z")!
        let theirs = try awscli(
            at: "2024-01-02T03:04:05", ["eks", "get-token", "--cluster-name", "prod-a", "--region", region])
        let ours = EKSToken.make(clusterName: "prod-a", region: region, credentials: credentials, date: date)
            .execCredentialJSON()
        #expect(ours == theirs)
    }

    @Test
    func gitCredentialIsByteIdenticalToAwscli() throws {
        try #require(Self.awscliAvailable, "the AWS CLI is not installed: scripts/install-deps.sh installs it")
        let date = AWSTimestamp.parseISO8601("2024-01-02T03:04:05Z")!
        for host in [
            "git-codecommit.eu-west-1.amazonaws.com", "vpce-0123-abcd.git-codecommit.us-east-2.vpce.amazonaws.com",
        ] {
            let input = "protocol=https\nhost=\(host)\npath=v1/repos/fleet-prod\n\n"
            let theirs = try awscli(
                at: "2024-01-02T03:04:05", ["codecommit", "credential-helper", "get"], input: input)
            let git = CodeCommitGitCredentials.make(
                host: host, path: "/v1/repos/fleet-prod", region: CodeCommitGitCredentials.region(ofHost: host)!,
                credentials: credentials, date: date)
            #expect("username=\(git.username)\npassword=\(git.password.reveal())\n" == theirs)
        }
    }

    @Test func binaryPrintsAValidTokenForNow() throws {
        let result = try Binary.run(
            ["eks-token", "--cluster-name", "prod-a", "--region", "eu-west-1"], environment: baseEnvironment)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["kind"] as? String == "ExecCredential")
        let token = try #require((object?["status"] as? [String: Any])?["token"] as? String)
        let url = String(
            decoding: try #require(Base64URL.decode(token.dropFirst(EKSToken.prefix.count))), as: UTF8.self)
        let amzDate = try #require(url.firstMatch(of: /X-Amz-Date=(\d{8}T\d{6}Z)/)?.1)
        // Recomputing the token for the instant it names gives the same bytes: it was signed correctly.
        let date = try #require(
            AWSTimestamp.parseISO8601(
                """
                \(amzDate.prefix(4))-\(amzDate.dropFirst(4).prefix(2))-\(amzDate.dropFirst(6).prefix(2))T\
                \(amzDate.dropFirst(9).prefix(2)):\(amzDate.dropFirst(11).prefix(2)):\
                \(amzDate.dropFirst(13).prefix(2))Z
                """
            ))
        #expect(
            EKSToken.make(clusterName: "prod-a", region: "eu-west-1", credentials: credentials, date: date).token
                .reveal() == token)

        var v1 = baseEnvironment
        v1["KUBERNETES_EXEC_INFO"] = #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}"#
        let withInfo = try Binary.run(
            ["eks-token", "--cluster-name", "prod-a", "--region", "eu-west-1"], environment: v1)
        #expect(withInfo.stdout.contains(#""apiVersion": "client.authentication.k8s.io/v1","#))
    }

    @Test func binaryRefusesWithTheDocumentedExitCodes() throws {
        var noRegion = baseEnvironment
        noRegion["AWS_REGION"] = nil
        let missingRegion = try Binary.run(["eks-token", "--cluster-name", "x"], environment: noRegion)
        #expect(missingRegion.status == 2)
        #expect(missingRegion.stderr.contains("no region"))
        var noCredentials = baseEnvironment
        noCredentials["AWS_ACCESS_KEY_ID"] = nil
        let missing = try Binary.run(
            ["eks-token", "--cluster-name", "x", "--region", "eu-west-1"], environment: noCredentials)
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("no credentials found"))
        #expect(!missing.stderr.contains(baseEnvironment["AWS_SECRET_ACCESS_KEY"]!))
    }

    @Test func gitCredentialAnswersOnlyCodeCommitHosts() throws {
        func run(_ input: String, _ extra: [String] = []) throws -> CommandResult {
            try Binary.run(["git-credential", "get"] + extra, environment: baseEnvironment, input: input)
        }
        let ok = try run("protocol=https\nhost=git-codecommit.eu-west-1.amazonaws.com\npath=v1/repos/x\n\n")
        #expect(ok.stdout.hasPrefix("username=AKIDEXAMPLE%FwoGZXIvYXdzEXAMPLETOKEN/+=\npassword="))
        let github = try run("protocol=https\nhost=github.com\npath=org/repo\n\n")
        #expect(github.status == 0 && github.stdout.isEmpty)
        let lab = try run(
            "protocol=https\nhost=127.0.0.1:8443\npath=v1/repos/x\n\n",
            ["--ignore-host-check", "--region", "eu-west-1"])
        #expect(lab.stdout.contains("password="))
        let noPath = try run("protocol=https\nhost=git-codecommit.eu-west-1.amazonaws.com\n\n")
        #expect(noPath.stdout.isEmpty && noPath.stderr.contains("UseHttpPath"))
        let store = try Binary.run(
            ["git-credential", "store"], environment: baseEnvironment,
            input: "protocol=https\nhost=x\nusername=u\npassword=p\n\n")
        #expect(store.status == 0 && store.stdout.isEmpty)
    }
}

@Suite("Proxies from the environment (binary)")
struct ProxyTests {
    @Test func httpProxyIsUsedAndNoProxyBypassesIt() throws {
        let proxy = try PeerServer(arguments: ["--max-requests", "10"], lifetime: 60)
        defer { proxy.stop() }
        var environment: [String: String] = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": "/nonexistent",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
            // A host that cannot resolve: only a proxy can have answered.
            "AWS_ENDPOINT_URL_STS": "http://sts.fleetstrap.invalid/sequence/viaproxy",
            "http_proxy": "http://127.0.0.1:\(proxy.port)",
        ]
        let arguments = [
            "eks-token", "--cluster-name", "x", "--region", "eu-west-1", "--role-arn",
            "arn:aws:iam::123456789012:role/r",
        ]
        let proxied = try Binary.run(arguments, environment: environment)
        // The proxy's canned answer is not an AssumeRole response: the request got there, which is the point.
        #expect(proxied.stderr.contains("MalformedResponse"), "\(proxied.stderr)")
        environment["no_proxy"] = "fleetstrap.invalid"
        let direct = try Binary.run(arguments, environment: environment)
        #expect(direct.status == 3)
        #expect(direct.stderr.contains("sts.fleetstrap.invalid"))
    }
}
