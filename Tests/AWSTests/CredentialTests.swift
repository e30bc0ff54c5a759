// The credential chain: environment, shared files and profiles (role chains, credential_process, credential_source),
// web identity, container, IMDSv2; caching with single-flight refresh; one AssumeRole per account.
import FleetSupport
import Foundation
import HTTP
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("Credentials", .serialized)
struct CredentialTests {
    /// The HOME of each test, with its ~/.aws.
    let folder: TemporaryFolder
    var home: URL { folder.url }

    init() throws {
        folder = try TemporaryFolder("fleetstrap-home")
        try FileManager.default.createDirectory(
            at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        try text.write(to: home.appendingPathComponent(path), atomically: true, encoding: .utf8)
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": home.path, "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 }
    }

    @Test func environmentVariables() async throws {
        let env = EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
        ])
        let c = try await env.credentials()
        #expect(c.accessKeyID == "AKID" && c.sessionToken?.reveal() == "t" && c.source == "environment")
        await #expect {
            try await EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID"]).credentials()
        } throws: { ($0 as? CredentialError)?.kind == .invalid }
        await #expect {
            try await EnvironmentCredentialProvider(environment: [:]).credentials()
        } throws: { ($0 as? CredentialError)?.kind == .notFound }
    }

    @Test func sharedFilesAndRegion() throws {
        try write(
            ".aws/config",
            """
            # comment
            [default]
            region = eu-west-1
            [profile ops]
            region = us-east-2
            role_arn = arn:aws:iam::123456789012:role/ops
            source_profile = default
            s3 =
              max_concurrent_requests = 10
            """)
        try write(
            ".aws/credentials",
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = secret ; not a comment in a value\n")
        let aws = try AWSEnvironment(variables: environment())
        #expect(aws.config.profiles["default"]?["aws_access_key_id"] == "AKIDFILE")
        #expect(aws.config.profiles["ops"]?["s3"] == "\nmax_concurrent_requests = 10")
        #expect(aws.region == "eu-west-1")
        #expect(try AWSEnvironment(variables: environment(["AWS_PROFILE": "ops"])).region == "us-east-2")
        #expect(
            try AWSEnvironment(variables: environment(["AWS_PROFILE": "ops", "AWS_REGION": "ap-south-1"])).region
                == "ap-south-1")
        #expect(throws: CredentialError.self) {
            try AWSEnvironment(variables: environment(["AWS_PROFILE": "nope"])).defaultCredentials()
        }
    }

    @Test func environmentWinsOverTheProfile() async throws {
        try write(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = secret\n")
        let withEnv = try AWSEnvironment(
            variables: environment(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "x"]))
        #expect(try await withEnv.defaultCredentials().credentials().accessKeyID == "AKIDENV")
        let fromFile = try AWSEnvironment(variables: environment())
        #expect(try await fromFile.defaultCredentials().credentials().accessKeyID == "AKIDFILE")
    }

    @Test func nothingFoundListsWhatWasTried() async throws {
        let aws = try AWSEnvironment(variables: environment())
        await #expect {
            try await aws.defaultCredentials().credentials()
        } throws: { error in
            guard let e = error as? CredentialError else { return false }
            return e.kind == .notFound && e.description.contains("AWS_ACCESS_KEY_ID is not set") && e.hint != nil
        }
    }

    @Test func credentialProcess() async throws {
        let script = home.appendingPathComponent("creds.sh")
        try """
        #!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"p\", \
        \"SessionToken\": \"st\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n
        """
        .write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: script.path)
        // Run through sh rather than exec'd: a test running in parallel may fork while the script is still open for
        // writing, and exec'ing it would then fail with "text file busy".
        try write(
            ".aws/config",
            """
            [profile proc]\ncredential_process = /bin/sh \(script.path)\n[profile broken]\ncredential_process = \
            /bin/false\n
            """
        )
        let aws = try AWSEnvironment(variables: environment(["AWS_PROFILE": "proc"]))
        let c = try await aws.defaultCredentials().credentials()
        #expect(c.accessKeyID == "AKIDPROC" && c.sessionToken?.reveal() == "st" && c.expiration != nil)
        await #expect {
            try await AWSEnvironment(variables: environment(["AWS_PROFILE": "broken"])).defaultCredentials()
                .credentials()
        } throws: { ($0 as? CredentialError)?.kind == .failed }
    }

    @Test func sourceProfileCyclesAreRefused() throws {
        try write(
            ".aws/config",
            """
            [profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n[profile b]\nrole_arn = \
            arn:aws:iam::1:role/b\nsource_profile = a\n
            """
        )
        #expect {
            try AWSEnvironment(variables: environment(["AWS_PROFILE": "a"])).defaultCredentials()
        } throws: { ($0 as? CredentialError)?.description.contains("loops: a → b → a") == true }
    }

    @Test func containerAndInstanceMetadata() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "20"], lifetime: 60)
        defer { server.stop() }
        let container = ContainerCredentialProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/container-credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer container-token",
        ])
        let c = try await container.credentials()
        #expect(c.accessKeyID == "ASIACONTAINER" && c.sessionToken?.reveal() == "container-session")
        let imds = IMDSCredentialProvider(environment: [
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(server.port)/"
        ])
        let i = try await imds.credentials()
        #expect(i.accessKeyID == "ASIAIMDS" && i.source == "instance metadata (instance-role)")
        await #expect {
            try await IMDSCredentialProvider(environment: ["AWS_EC2_METADATA_DISABLED": "true"]).credentials()
        } throws: { ($0 as? CredentialError)?.kind == .notFound }
    }

    // MARK: Caching

    actor Counter: CredentialProvider {
        var calls = 0
        var failuresLeft: Int
        let lifetime: TimeInterval
        init(failures: Int = 0, lifetime: TimeInterval = 3600) {
            failuresLeft = failures
            self.lifetime = lifetime
        }
        func credentials() async throws -> AWSCredentials {
            calls += 1
            try await Task.sleep(for: .milliseconds(50))
            if failuresLeft > 0 {
                failuresLeft -= 1
                throw CredentialError.failed("counter", "refresh failed")
            }
            return AWSCredentials(
                accessKeyID: "AKID\(calls)", secretAccessKey: "s", expiration: Date().addingTimeInterval(lifetime))
        }
    }

    @Test func concurrentCallersShareOneRefresh() async throws {
        let source = Counter()
        let cached = CachedCredentialProvider(source)
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<1000 { group.addTask { try await cached.credentials().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids == ["AKID1"])
        #expect(await source.calls == 1)
    }

    @Test func aFailedRefreshIsNotCached() async throws {
        let source = Counter(failures: 1)
        let cached = CachedCredentialProvider(source)
        await #expect(throws: CredentialError.self) { try await cached.credentials() }
        #expect(try await cached.credentials().accessKeyID == "AKID2")
    }

    @Test func refreshesAheadOfExpiry() async throws {
        let source = Counter(lifetime: 5 * 60)  // inside the 10-minute mandatory window
        let cached = CachedCredentialProvider(source)
        _ = try await cached.credentials()
        _ = try await cached.credentials()
        #expect(await source.calls == 2)
        let long = Counter(lifetime: 3600)
        let cachedLong = CachedCredentialProvider(long)
        _ = try await cachedLong.credentials()
        _ = try await cachedLong.credentials()
        #expect(await long.calls == 1)
    }

    // MARK: Against moto

    @Test func roleChainsAndOneAssumeRolePerAccount() async throws {
        try #require(MotoServer.available, "moto_server is not installed: scripts/install-deps.sh installs it")
        let moto = try MotoServer(lifetime: 120)
        defer { moto.stop() }
        try write(
            ".aws/config",
            """
            [profile base]
            aws_access_key_id = AKIAIOSFODNN7EXAMPLE
            aws_secret_access_key = anything
            [profile deploy]
            role_arn = arn:aws:iam::123456789012:role/deploy
            source_profile = base
            role_session_name = deployer
            [profile chained]
            role_arn = arn:aws:iam::123456789012:role/chained
            source_profile = deploy
            [profile from-env]
            role_arn = arn:aws:iam::123456789012:role/env
            credential_source = Environment
            """)
        let variables = environment([
            "AWS_ENDPOINT_URL": moto.endpoint, "AWS_PROFILE": "chained", "AWS_REGION": "eu-west-1",
        ])
        let aws = try AWSEnvironment(variables: variables)
        let chained = try await aws.defaultCredentials().credentials()
        let sts = STSClient(client: aws.client, region: "eu-west-1")
        let identity = try await sts.getCallerIdentity(credentials: StaticCredentialProvider(chained))
        #expect(identity.arn.contains("assumed-role/chained/"))
        #expect(aws.client.attemptCounts()["sts:AssumeRole"] == 2, "deploy, then chained")

        let fromEnv = try AWSEnvironment(
            variables: environment([
                "AWS_ENDPOINT_URL": moto.endpoint, "AWS_PROFILE": "from-env",
                "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x",
            ]))
        let envRole = try await fromEnv.profileCredentials("from-env", region: "us-east-1").credentials()
        #expect(envRole.source.contains("role/env"))

        let webToken = home.appendingPathComponent("token")
        try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zmx1eCJ9.c2ln".write(
            to: webToken, atomically: true, encoding: .utf8)
        let irsa = try AWSEnvironment(
            variables: environment([
                "AWS_ENDPOINT_URL": moto.endpoint, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/irsa",
                "AWS_WEB_IDENTITY_TOKEN_FILE": webToken.path, "AWS_ROLE_SESSION_NAME": "pod",
            ]))
        let irsaCredentials = try await irsa.defaultCredentials().credentials()
        #expect(irsaCredentials.source == "web-identity arn:aws:iam::123456789012:role/irsa")

        // A thousand clusters in one account, two accounts: two AssumeRole calls.
        let base = StaticCredentialProvider(
            AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "anything"))
        let client = AWSClient(
            configuration: .init(endpoints: AWSEndpoints(environment: ["AWS_ENDPOINT_URL": moto.endpoint])))
        let sessions = AccountSessions(base: base, client: client)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<1000 {
                let account = i % 2 == 0 ? "prod" : "staging"
                let role = AccountRole(
                    account: account, roleARN: "arn:aws:iam::123456789012:role/\(account)", externalID: "x",
                    sessionName: "fleetstrap", durationSeconds: 3600, region: "eu-west-1")
                group.addTask { _ = try await sessions.credentials(for: role).credentials() }
            }
            try await group.waitForAll()
        }
        #expect(client.attemptCounts()["sts:AssumeRole"] == 2)
    }
}
