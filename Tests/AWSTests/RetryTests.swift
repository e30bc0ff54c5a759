// The standard retry mode: decisions as pure values, then end to end against a local server that throttles.
import FleetSupport
import Foundation
import HTTP
import Logging
import SigV4
import Synchronization
import TestSupport
import Testing

@testable import AWS

@Suite("Retries and rate limits")
struct RetryTests {
    let strategy = RetryStrategy()

    // MARK: Decisions

    @Test func fullJitterBackoffStaysWithinItsCap() {
        let quota = RetryQuota()
        for (attempt, cap) in [(1, 1.0), (2, 2.0)] {
            for r in [0.0, 0.25, 0.999] {
                guard
                    case .retry(let delay, let cost) = strategy.decide(
                        attempt: attempt, failure: .retryable(isTimeout: false, retryAfter: nil), quota: quota,
                        random: r)
                else {
                    Issue.record("expected a retry")
                    continue
                }
                #expect(delay.seconds >= 0 && delay.seconds <= cap)
                #expect(abs(delay.seconds - r * cap) < 0.001)
                #expect(cost == 5)
            }
        }
        var long = RetryStrategy()
        long.maxAttempts = 10
        guard
            case .retry(let delay, _) = long.decide(
                attempt: 8, failure: .retryable(isTimeout: false, retryAfter: nil), quota: quota, random: 0.999)
        else {
            Issue.record("expected a retry")
            return
        }
        #expect(delay.seconds <= 20, "capped at 20 s")
    }

    @Test func threeAttemptsAtMostAndOnlyForRetryableFailures() {
        let quota = RetryQuota()
        #expect(
            strategy.decide(attempt: 3, failure: .retryable(isTimeout: false, retryAfter: nil), quota: quota, random: 0)
                == .giveUp(reason: "3 attempts made"))
        #expect(
            strategy.decide(attempt: 1, failure: .permanent, quota: quota, random: 0)
                == .giveUp(reason: "not retryable"))
    }

    @Test func retryAfterIsHonouredAndBounded() {
        let quota = RetryQuota()
        #expect(
            strategy.decide(
                attempt: 1, failure: .retryable(isTimeout: false, retryAfter: .seconds(3)), quota: quota, random: 0.1)
                == .retry(after: .seconds(3), cost: 5))
        #expect(
            strategy.decide(
                attempt: 1, failure: .retryable(isTimeout: false, retryAfter: .seconds(600)), quota: quota, random: 0)
                == .retry(after: .seconds(20), cost: 5))
    }

    @Test func quotaChargesTimeoutsMoreAndRunsOut() {
        let quota = RetryQuota()
        #expect(
            strategy.decide(attempt: 1, failure: .retryable(isTimeout: true, retryAfter: nil), quota: quota, random: 0)
                == .retry(after: .zero, cost: 10))
        #expect(quota.remaining == 490)
        quota.recordSuccess(lastRetryCost: 10)
        #expect(quota.remaining == 500)
        while quota.acquire(5) {}
        #expect(
            strategy.decide(attempt: 1, failure: .retryable(isTimeout: false, retryAfter: nil), quota: quota, random: 0)
                == .giveUp(reason: "retry quota exhausted"))
        quota.recordSuccess(lastRetryCost: 0)
        #expect(quota.remaining == 1)
    }

    // MARK: Error shapes

    @Test func errorsParseFromEveryProtocol() {
        let query = AWSError.parse(
            HTTPResponse(
                status: 400, headers: [],
                body: Array(
                    """
                    <ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate \
                    exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>
                    """.utf8)), service: "sts", operation: "AssumeRole")
        #expect(
            query.code == "Throttling" && query.message == "Rate exceeded" && query.requestID == "r-1"
                && query.isThrottling)
        let json = AWSError.parse(
            HTTPResponse(
                status: 400, headers: [],
                body: Array(
                    #"""
                    {"__type":"com.amazonaws.codecommit#RepositoryDoesNotExistException","message":"x does not exist"}
                    """#
                    .utf8)), service: "codecommit", operation: "GetRepository")
        #expect(json.code == "RepositoryDoesNotExistException" && !json.isRetryable)
        let rest = AWSError.parse(
            HTTPResponse(
                status: 404,
                headers: [
                    ("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/"),
                    ("x-amzn-RequestId", "r-2"),
                ], body: Array(#"{"message":"No cluster found"}"#.utf8)), service: "eks", operation: "DescribeCluster")
        #expect(
            rest.code == "ResourceNotFoundException" && rest.message == "No cluster found" && rest.requestID == "r-2")
        let bare = AWSError.parse(
            HTTPResponse(status: 503, headers: [], body: Array("<html>oops".utf8)), service: "eks",
            operation: "DescribeCluster")
        #expect(bare.code == "ServiceUnavailable" && bare.isRetryable)
        let tooMany = AWSError.parse(
            HTTPResponse(status: 429, headers: [], body: []), service: "eks", operation: "DescribeCluster")
        #expect(tooMany.isThrottling)
    }

    @Test func malformedBodiesNeverCrashTheParser() {
        var rng = SplitMix64(seed: 7)
        let seeds = [
            "<ErrorResponse><Error><Code>", "{\"__type\":", "<<<>>>", "{\"message\": [1,2,{", "<a><b><c>",
            String(repeating: "<x>", count: 500),
        ]
        for _ in 0..<500 {
            var body = Array(seeds.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 0...20, using: &rng) { body.append(UInt8.random(in: 0...255, using: &rng)) }
            let e = AWSError.parse(
                HTTPResponse(status: Int.random(in: 400...599, using: &rng), headers: [], body: body), service: "sts",
                operation: "X")
            #expect(!e.code.isEmpty)
        }
    }

    // MARK: End to end

    func client(_ server: PeerServer, name: String) -> (AWSClient, AWSCall) {
        var config = AWSClient.Configuration(
            endpoints: AWSEndpoints(environment: [
                "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:\(server.port)/sequence/\(name)"
            ]))
        config.random = { 0 }  // no jitter: the test checks decisions, not the clock
        let client = AWSClient(configuration: config)
        return (
            client,
            .query(.sts, "GetCallerIdentity", version: "2011-06-15", region: "us-east-1", account: "a", parameters: [])
        )
    }

    let credentials = StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"))

    func served(_ server: PeerServer, _ name: String) async throws -> Int {
        Int(
            try await HTTPClient.shared.execute(HTTPRequest(url: "http://127.0.0.1:\(server.port)/count/\(name)"))
                .bodyText) ?? -1
    }

    @Test func throttlingAndServerErrorsAreRetriedUntilSuccess() async throws {
        let server = try PeerServer(
            arguments: [
                "--sequence", "ok=400:Throttling,500,200", "--sequence", "down=400:Throttling,503,400:Throttling,200",
                "--sequence", "denied=403:AccessDenied", "--max-requests", "50",
            ], lifetime: 60)
        defer { server.stop() }
        let (okClient, okCall) = client(server, name: "ok")
        let response = try await okClient.send(okCall, credentials: credentials)
        #expect(response.status == 200)
        #expect(try await served(server, "ok") == 3)

        let (downClient, downCall) = client(server, name: "down")
        await #expect {
            _ = try await downClient.send(downCall, credentials: credentials)
        } throws: { error in
            (error as? AWSError)?.code == "Throttling"
        }
        #expect(try await served(server, "down") == 3, "three attempts, then the last error")

        let (deniedClient, deniedCall) = client(server, name: "denied")
        await #expect(throws: AWSError.self) { _ = try await deniedClient.send(deniedCall, credentials: credentials) }
        #expect(try await served(server, "denied") == 1, "AccessDenied is not retried")
    }

    /// Hands out a new session each time it is asked, valid for an hour.
    actor SessionSource: CredentialProvider {
        private(set) var issued = 0
        func credentials() async throws -> AWSCredentials {
            issued += 1
            return AWSCredentials(
                accessKeyID: "ASIA\(issued)", secretAccessKey: "secret", sessionToken: "token",
                expiration: Date() + 3600)
        }
    }

    @Test func anExpiredSessionIsRenewedOnceAndTheCallSignedAgain() async throws {
        let server = try PeerServer(
            arguments: [
                "--sequence", "once=403:ExpiredToken,200", "--sequence",
                "always=403:ExpiredToken,403:ExpiredToken,403:ExpiredToken", "--max-requests", "20",
            ], lifetime: 60)
        defer { server.stop() }
        let source = SessionSource()
        let cached = CachedCredentialProvider(source)
        let (client, call) = self.client(server, name: "once")
        #expect(try await client.send(call, credentials: cached).status == 200)
        #expect(try await served(server, "once") == 2)
        #expect(await source.issued == 2, "the refused session was dropped and a new one fetched")
        #expect(try await cached.credentials().accessKeyID == "ASIA2", "and the new one is kept")

        // A session refused again after renewal is an error to report, not a loop.
        let (alwaysClient, alwaysCall) = self.client(server, name: "always")
        await #expect { _ = try await alwaysClient.send(alwaysCall, credentials: cached) } throws: {
            ($0 as? AWSError)?.isExpiredToken == true
        }
        #expect(try await served(server, "always") == 2)
    }

    /// Keeps what was logged, to check what a log shows (and that it shows no secret).
    final class CapturingLog: LogHandler, @unchecked Sendable {
        let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let meta = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: " ")
            lines.withLock { $0.append("\(event.level) \(event.message) \(meta)") }
        }
    }

    @Test func retriesAreLoggedWithoutSecrets() async throws {
        let server = try PeerServer(
            arguments: ["--sequence", "logged=400:Throttling,400:Throttling,400:Throttling", "--max-requests", "10"],
            lifetime: 60)
        defer { server.stop() }
        let capture = CapturingLog()
        var config = AWSClient.Configuration(
            endpoints: AWSEndpoints(environment: [
                "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:\(server.port)/sequence/logged"
            ]))
        config.random = { 0 }
        config.logger = Logger(label: "test") { _ in capture }
        let c = AWSClient(configuration: config)
        let secret = StaticCredentialProvider(
            AWSCredentials(accessKeyID: "AKID", secretAccessKey: "very-secret-key", sessionToken: "session-token-value")
        )
        await #expect(throws: AWSError.self) {
            _ = try await c.send(
                .query(
                    .sts, "GetCallerIdentity", version: "2011-06-15", region: "us-east-1", account: "prod",
                    parameters: []), credentials: secret)
        }
        let lines = capture.lines.withLock { $0 }
        #expect(lines.filter { $0.hasPrefix("debug retrying AWS call") }.count == 2)
        #expect(
            lines.last?.hasPrefix("notice AWS call failed after retries account=prod attempt=3 error=aws.Throttling")
                == true, "\(lines)")
        #expect(!lines.joined().contains("very-secret-key") && !lines.joined().contains("session-token-value"))
    }

    @Test func retryAfterFrom429IsUsed() async throws {
        let server = try PeerServer(arguments: ["--sequence", "busy=429,200", "--max-requests", "10"], lifetime: 60)
        defer { server.stop() }
        let (c, call) = client(server, name: "busy")
        let started = ContinuousClock.now
        _ = try await c.send(call, credentials: credentials)
        #expect(try await served(server, "busy") == 2)
        // The server asked for 1 s and jitter is 0 here: the wait can only come from Retry-After.
        #expect(ContinuousClock.now - started >= .seconds(1))
    }

    @Test func theQuotaRunsOutUnderSustainedFailure() async throws {
        let server = try PeerServer(arguments: ["--sequence", "broken=500", "--max-requests", "400"], lifetime: 300)
        defer { server.stop() }
        let (c, call) = client(server, name: "broken")
        for _ in 0..<60 {
            await #expect(throws: AWSError.self) { _ = try await c.send(call, credentials: credentials) }
        }
        // 50 calls spend the 500-token quota on 2 retries each; the last 10 get one attempt only.
        #expect(try await served(server, "broken") == 50 * 3 + 10)
        #expect(c.attemptCounts()["sts:GetCallerIdentity"] == 160)
    }

    @Test func connectionErrorsAreRetried() async throws {
        let closed = try PeerServer(arguments: ["--max-requests", "1"], lifetime: 1)
        let port = closed.port
        closed.stop()
        var config = AWSClient.Configuration(
            endpoints: AWSEndpoints(environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:\(port)"]))
        config.random = { 0 }
        let c = AWSClient(configuration: config)
        await #expect(throws: HTTPClientError.self) {
            _ = try await c.send(
                .query(
                    .sts, "GetCallerIdentity", version: "2011-06-15", region: "us-east-1", account: "a",
                    parameters: []),
                credentials: credentials)
        }
        #expect(c.attemptCounts()["sts:GetCallerIdentity"] == 3)
    }

    // MARK: Token buckets

    @Test func tokenBucketReservesAndRefundsOnCancellation() async throws {
        // A rate so slow that no token comes back during the test, however loaded the machine.
        let bucket = TokenBucket(rate: 0.0001, burst: 1)
        try await bucket.acquire()
        #expect(await bucket.available() < 0.01)
        let waiter = Task { try await bucket.acquire() }
        var waited = 0
        while await bucket.available() > -0.5, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(await bucket.available() < -0.5, "the waiter holds a reservation")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await bucket.available() > -0.5, "a cancelled waiter gives its token back")
    }
}
