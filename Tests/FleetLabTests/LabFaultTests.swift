// Every fault the lab can inject, switched on and observed: AWS throttling (fleetstrap's client retries it),
// per-account rate limits, Kubernetes 429 with Retry-After, 503, latency, connection resets, hangs, unreachable
// clusters, and a rival pusher that makes the next push non-fast-forward; and the admin endpoint that sets them.
import AWS
import FleetCrypto
import FleetLab
import FleetSupport
import Foundation
import HTTP
import LabSupport
import SigV4
import TestSupport
import Testing

@Suite("Lab: faults and counters", .serialized)
struct LabFaultTests {
    @Test func awsThrottlingIsRetriedAndCounted() async throws {
        try await withLab(ssh: false) { fixture in
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            try await fixture.lab.setFaults(
                LabFaults(rules: [.init(service: "iam", operation: "ListSSHPublicKeys", error: .throttling, count: 2)]))
            let keys = try await IAMClient(client: client).listSSHPublicKeys(userName: "flux-prod", credentials: prod)
            #expect(keys.isEmpty)
            let counters = fixture.lab.counters()
            #expect(counters.throttled["iam"] == 2)
            #expect(counters.operations["iam:ListSSHPublicKeys"] == 3, "two throttled attempts and the one that passed")

            // A 500 and a 503 from EKS are retried as well.
            try await fixture.lab.setFaults(
                LabFaults(rules: [
                    .init(service: "eks", operation: "DescribeCluster", error: .internalError, count: 1),
                    .init(service: "eks", error: .unavailable, count: 1),
                ]))
            let cluster = try await EKSClient(client: client, region: "eu-west-1").describeCluster(
                name: "prod-a", credentials: prod)
            #expect(cluster.endpoint.hasPrefix("https://127.0.0.1:"))
            #expect(fixture.lab.counters().failed["eks"] == 2)

            // More throttling than the client's attempts: the error names AWS's code.
            try await fixture.lab.setFaults(LabFaults(rules: [.init(service: "iam", error: .throttling)]))
            await #expect {
                _ = try await IAMClient(client: client).listSSHPublicKeys(userName: "flux-prod", credentials: prod)
            } throws: { "\($0)".contains("Throttling") }
        }
    }

    @Test func rateLimitsThrottlePerAccount() async throws {
        try await withLab(ssh: false) { fixture in
            var configuration = try AWSClient.Configuration.environment(fixture.lab.environment)
            configuration.retry.maxAttempts = 1
            let client = AWSClient(configuration: configuration)
            let prod = try await fixture.session("prod", client: try fixture.client())
            try await fixture.lab.setFaults(
                LabFaults(rateLimits: [.init(service: "sts", account: "operator", perSecond: 0.001, burst: 2)]))
            let sts = STSClient(client: client, region: "eu-west-1")
            _ = try await sts.getCallerIdentity(credentials: fixture.operatorCredentials)
            _ = try await sts.getCallerIdentity(credentials: fixture.operatorCredentials)
            await #expect {
                _ = try await sts.getCallerIdentity(credentials: fixture.operatorCredentials)
            } throws: { "\($0)".contains("Throttling") }
            // Another account has its own budget.
            let identity = try await sts.getCallerIdentity(credentials: prod)
            #expect(identity.account == "111111111111")
            #expect(fixture.lab.counters().throttled["sts"] == 1)
        }
    }

    @Test func kubernetesFaults() async throws {
        try await withLab(ssh: false) { fixture in
            let c = try await fixture.connect()
            try await fixture.lab.setFaults(
                LabFaults(rules: [
                    .init(service: "kubernetes", cluster: "prod-a", error: .tooManyRequests, count: 1, retryAfter: 2)
                ]))
            let throttled = try await c.call("/api/v1/namespaces")
            #expect(throttled.status == 429)
            #expect(throttled.header("Retry-After") == "2")
            #expect(JSONValue.parse(throttled.body)?["reason"]?.string == "TooManyRequests")
            #expect(try await c.call("/api/v1/namespaces").status == 200, "count: 1 hits one request only")

            try await fixture.lab.setFaults(
                LabFaults(rules: [.init(service: "kubernetes", error: .internalError, count: 1)]))
            let internalError = try await c.call("/api/v1/namespaces")
            #expect(
                internalError.status == 500 && JSONValue.parse(internalError.body)?["reason"]?.string == "InternalError"
            )

            try await fixture.lab.setFaults(
                LabFaults(rules: [.init(service: "kubernetes", operation: "list", error: .unavailable)]))
            #expect(try await c.call("/api/v1/namespaces").status == 503)
            #expect(try await c.call("/api/v1/namespaces/default").status == 200, "only the verb named is hit")

            try await fixture.lab.setFaults(LabFaults(rules: [.init(service: "kubernetes", latency: "300ms")]))
            let started = Date()
            #expect(try await c.call("/version").status == 200)
            #expect(Date().timeIntervalSince(started) >= 0.3, "the answer waits out the latency")

            // Every request reset (curl itself retries once on a fresh connection when a reused one dies).
            try await fixture.lab.setFaults(LabFaults(rules: [.init(service: "kubernetes", error: .reset)]))
            await #expect { _ = try await c.call("/version") } throws: { error in
                guard let error = error as? HTTPClientError else { return false }
                return !error.isTimeout && error.isRetryable
            }
            try await fixture.lab.setFaults(LabFaults())
            #expect(try await c.call("/version").status == 200)

            try await fixture.lab.setFaults(
                LabFaults(rules: [.init(service: "kubernetes", error: .hang, count: 1)], hangSeconds: 3))
            await #expect { _ = try await c.call("/version", timeout: .seconds(1)) } throws: {
                ($0 as? HTTPClientError)?.isTimeout == true
            }

            let counters = fixture.lab.counters()
            #expect(counters.throttled["kubernetes"] == 1)
            #expect(counters.failed["kubernetes"] ?? 0 >= 4, "500, 503, reset(s) and hang")
            #expect(counters.operations["kubernetes:list"] ?? 0 >= 3)
        }
    }

    @Test func anUnreachableClusterRefusesConnectionsUntilHealed() async throws {
        try await withLab(ssh: false) { fixture in
            let c = try await fixture.connect()
            #expect(try await c.call("/version").status == 200)
            try await fixture.lab.setFaults(LabFaults(unreachableClusters: ["prod-a"]))
            // A new connection is refused (curl 7); the connection kept alive from the call above, if curl picks it, is
            // reset (56) by the lab, as a server going away resets it; a connection the closing listener still accepted
            // is reset during the TLS handshake (35). Which one curl meets is a race; all three are "down".
            await #expect { _ = try await c.call("/version", timeout: .seconds(5)) } throws: { error in
                [7, 35, 56].contains((error as? HTTPClientError)?.curlCode)
            }
            try await fixture.lab.setFaults(LabFaults())
            #expect(try await c.call("/version").status == 200, "the same endpoint answers again")
        }
    }

    @Test func aRivalPushMakesTheNextPushNonFastForward() async throws {
        try await withLab(ssh: false) { fixture in
            _ = try await Flux.seed(fixture, account: "111111111111", repository: "fleet-prod", path: "clusters/prod-a")
            let prod = try await fixture.session("prod", client: try fixture.client())
            let url = "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod"
            let host = String(fixture.lab.info.endpoint.dropFirst("https://".count))
            func git(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
                // A fresh Git password each time, as the credential helper makes one.
                let credentials = CodeCommitGitCredentials.make(
                    host: host, path: "/v1/repos/fleet-prod", region: "eu-west-1",
                    credentials: try await prod.credentials(), date: Date())
                let basic = Data("\(credentials.username):\(credentials.password.reveal())".utf8).base64EncodedString()
                let result = try await runCommand(
                    [
                        "git", "-c", "http.extraHeader=Authorization: Basic \(basic)", "-c", "user.name=t", "-c",
                        "user.email=t@example.com",
                    ] + arguments,
                    environment: [
                        "GIT_SSL_CAINFO": fixture.lab.info.caBundle, "PATH": "/usr/bin:/bin",
                        "HOME": fixture.directory.path, "GIT_TERMINAL_PROMPT": "0",
                    ])
                return (result.status, result.stderr)
            }
            let work = fixture.directory.appendingPathComponent("work").path
            #expect(try await git(["clone", "-q", url, work]).status == 0)
            try "change\n".write(toFile: "\(work)/clusters/prod-a/change.txt", atomically: true, encoding: .utf8)
            #expect(try await git(["-C", work, "add", "."]).status == 0)
            #expect(try await git(["-C", work, "commit", "-q", "-m", "change"]).status == 0)

            // Armed over the admin endpoint, as a test of a running lab would.
            let armed = try await admin(
                fixture, "PUT", "/_lab/faults",
                body: "rivalPushes:\n- repository: fleet-prod\n  account: prod\n  pushes: 1\n")
            #expect(armed.status == 200, "\(armed.bodyText)")
            let rejected = try await git(["-C", work, "push", "-q", "origin", "main"])
            #expect(rejected.status != 0)
            #expect(
                rejected.stderr.contains("rejected") || rejected.stderr.contains("fetch first"), "\(rejected.stderr)")
            #expect(try await git(["-C", work, "pull", "-q", "--rebase", "origin", "main"]).status == 0)
            #expect(try await git(["-C", work, "push", "-q", "origin", "main"]).status == 0, "one rival push only")

            // A rival push on demand, and the counters, over the admin endpoint.
            let pushed = try await admin(
                fixture, "POST", "/_lab/rival-push", body: #"{"account": "prod", "repository": "fleet-prod"}"#)
            #expect(JSONValue.parse(pushed.body)?["commit"]?.string?.count == 40)
            let counters = try JSONDecoder().decode(
                LabCounters.self, from: Data(try await admin(fixture, "GET", "/_lab/counters").body))
            #expect(counters.operations["git:git-receive-pack"] ?? 0 >= 2)
            #expect(counters.repositories["111111111111/fleet-prod"] ?? 0 >= 4)
            #expect(try await admin(fixture, "GET", "/_lab/counters", token: "wrong").status == 401)
        }
    }

    @Test(.enabled(if: LabControllerTests.sshAvailable, LabControllerTests.sshReason))
    func aRivalPushRacesPushesOverSSHToo() async throws {
        try await withLab(ssh: true) { fixture in
            _ = try await Flux.seed(fixture, account: "111111111111", repository: "fleet-prod", path: "clusters/prod-a")
            let client = try fixture.client()
            let key = try RSAPrivateKey.generate(bits: 2048)
            let uploaded = try await IAMClient(client: client).uploadSSHPublicKey(
                userName: "flux-prod", publicKey: key.publicKey.openSSH,
                credentials: try await fixture.session("prod", client: client))
            let dir = fixture.directory.path
            guard
                FileManager.default.createFile(
                    atPath: "\(dir)/id_rsa", contents: Data(try key.pem().reveal().utf8),
                    attributes: [.posixPermissions: 0o600])
            else { throw LabTestFailure("cannot write the key") }
            try (try #require(fixture.lab.info.sshKnownHosts) + "\n").write(
                toFile: "\(dir)/known_hosts", atomically: true, encoding: .utf8)
            let ssh =
                """
                ssh -F /dev/null -i \(dir)/id_rsa -o IdentitiesOnly=yes -o UserKnownHostsFile=\(dir)/known_hosts -o \
                StrictHostKeyChecking=yes -o BatchMode=yes
                """
            let url = "ssh://\(uploaded.keyID)@127.0.0.1:\(try #require(fixture.lab.info.sshPort))/v1/repos/fleet-prod"
            func git(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
                let result = try await runCommand(
                    ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"] + arguments,
                    environment: ["GIT_SSH_COMMAND": ssh, "PATH": "/usr/bin:/bin", "HOME": dir])
                return (result.status, result.stderr)
            }
            let work = "\(dir)/work"
            #expect(try await git(["clone", "-q", url, work]).status == 0)
            try "change\n".write(toFile: "\(work)/change.txt", atomically: true, encoding: .utf8)
            #expect(try await git(["-C", work, "add", "."]).status == 0)
            #expect(try await git(["-C", work, "commit", "-q", "-m", "change"]).status == 0)
            try await fixture.lab.setFaults(
                LabFaults(rivalPushes: [.init(repository: "fleet-prod", account: "prod", pushes: 1)]))
            let rejected = try await git(["-C", work, "push", "-q", "origin", "main"])
            #expect(rejected.status != 0 && rejected.stderr.contains("rejected"), "\(rejected.stderr)")
            #expect(try await git(["-C", work, "pull", "-q", "--rebase", "origin", "main"]).status == 0)
            #expect(try await git(["-C", work, "push", "-q", "origin", "main"]).status == 0)
        }
    }

    @Test func faultsThatCannotMeanAnythingAreRefused() async throws {
        try await withLab(ssh: false) { fixture in
            await #expect(throws: LabConfig.Invalid.self) {
                try await fixture.lab.setFaults(LabFaults(unreachableClusters: ["nope"]))
            }
            await #expect(throws: LabConfig.Invalid.self) {
                try await fixture.lab.setFaults(LabFaults(rules: [.init(service: "s3", error: .throttling)]))
            }
            await #expect(throws: LabConfig.Invalid.self) {
                try await fixture.lab.setFaults(LabFaults(rules: [.init(latency: "soon")]))
            }
            let refused = try await admin(fixture, "PUT", "/_lab/faults", body: "rules:\n- error: sometimes\n")
            #expect(refused.status == 400)
        }
    }

    func admin(_ fixture: LabFixture, _ method: String, _ path: String, body: String = "", token: String? = nil)
        async throws -> HTTPResponse
    {
        try await HTTPClient.shared.execute(
            HTTPRequest(
                method: method, url: fixture.lab.info.endpoint + path,
                headers: [("Authorization", "Bearer \(token ?? fixture.lab.info.adminToken)")], body: Array(body.utf8),
                trust: .pem(Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle))))))
    }
}
