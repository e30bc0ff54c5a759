// Every call fleetstrap makes to AWS goes through here: endpoint, rate limit per (service, account, region),
// credentials, SigV4, the HTTP client, AWS's error shapes, and the standard retry mode with its quota.
import FleetSupport
import Foundation
import HTTP
import Logging
import SigV4
import Synchronization

/// One AWS API call, before signing.
public struct AWSCall: Sendable {
    public var service: AWSService
    public var operation: String
    public var region: String
    /// The rate-limit key's account (an inventory account name, or a role); calls of one account share a bucket.
    public var account: String
    public var method = "POST"
    public var path = "/"
    public var query: [(String, String)] = []
    public var headers: [(String, String)] = []
    public var body: [UInt8] = []
    /// AssumeRoleWithWebIdentity is the one unsigned call.
    public var signed = true

    public init(service: AWSService, operation: String, region: String, account: String = "default") {
        self.service = service
        self.operation = operation
        self.region = region
        self.account = account
    }

    /// A Query-protocol call (STS, IAM): form-encoded POST with Action and Version.
    static func query(
        _ service: AWSService, _ action: String, version: String, region: String, account: String,
        parameters: [(String, String)]
    ) -> AWSCall {
        var call = AWSCall(service: service, operation: action, region: region, account: account)
        call.headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        call.body = Array(PercentEncoding.query([("Action", action), ("Version", version)] + parameters).utf8)
        return call
    }
}

public final class AWSClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoints: AWSEndpoints
        public var trust: TLSTrust
        public var retry = RetryStrategy()
        /// Requests a second per (service, account, region), by signing name; unset services use their default.
        public var rates: [String: Double] = [:]
        public var timeout: Duration = .seconds(30)
        public var now: @Sendable () -> Date = Date.init
        public var random: @Sendable () -> Double = { Double.random(in: 0..<1) }
        /// Signing keys by secret, day, region and service: the client's own, shared by every request it signs and
        /// by the EKS tokens made from it (a key is four HMACs; a fleet run signs thousands of requests a day).
        public var signingKeys = SigningKeyCache()
        /// Retries and give-ups are logged here (static messages, details in metadata, never credentials).
        public var logger = Logger(label: "fleetstrap.aws")

        public init(endpoints: AWSEndpoints, trust: TLSTrust = .system) {
            self.endpoints = endpoints
            self.trust = trust
        }

        /// From the environment: `AWS_ENDPOINT_URL[_<SERVICE>]` and `AWS_CA_BUNDLE`.
        public static func environment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Self {
            var trust = TLSTrust.system
            if let path = env["AWS_CA_BUNDLE"], !path.isEmpty {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CredentialError.invalid("AWS_CA_BUNDLE", "cannot read \(path)")
                }
                trust = .pem(Array(data))
            }
            return Configuration(endpoints: AWSEndpoints(environment: env), trust: trust)
        }
    }

    public let configuration: Configuration
    let http: HTTPClient
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let quotas = Mutex<[String: RetryQuota]>([:])
    private let counts = Mutex<[String: Int]>([:])

    public init(configuration: Configuration, http: HTTPClient = .shared) {
        self.configuration = configuration
        self.http = http
    }

    /// Attempts made so far, keyed `service:Operation` (retries count), for tests and benchmarks.
    public func attemptCounts() -> [String: Int] { counts.withLock { $0 } }

    /// Sends `call`, retrying as the standard mode allows; returns a 2xx response or throws `AWSError`,
    /// `HTTPClientError`, `CredentialError` or `CancellationError`.
    public func send(_ call: AWSCall, credentials provider: (any CredentialProvider)?) async throws -> HTTPResponse {
        let endpoint = configuration.endpoints.url(for: call.service, region: call.region)
        guard let parts = URLParts(endpoint) else {
            throw CredentialError.invalid("endpoint", "'\(endpoint)' is not a URL")
        }
        let bucket = bucket(for: call)
        let quota = quota(for: parts.hostAndPort)
        var lastRetryCost = 0
        var attempt = 0
        var renewedCredentials = false
        while true {
            attempt += 1
            try await bucket.acquire()
            counts.withLock { $0["\(call.service.signingName):\(call.operation)", default: 0] += 1 }
            let (request, credentials) = try await prepare(call, endpoint: parts, credentials: provider)
            let failure: RetryStrategy.Failure
            let error: any Error
            do {
                let response = try await http.execute(request)
                if (200..<300).contains(response.status) {
                    quota.recordSuccess(lastRetryCost: lastRetryCost)
                    return response
                }
                let awsError = AWSError.parse(response, service: call.service.signingName, operation: call.operation)
                if awsError.isExpiredToken, let provider, let credentials, !renewedCredentials {
                    // Once per call, and not counted as a retry: drop the cached session and sign again with a new one.
                    renewedCredentials = true
                    configuration.logger.notice(
                        "AWS refused the session as expired; renewing it",
                        metadata: [
                            "service": "\(call.service.signingName)", "operation": "\(call.operation)",
                            "account": "\(call.account)",
                        ])
                    await provider.invalidate(credentials)
                    attempt -= 1
                    continue
                }
                error = awsError
                failure =
                    awsError.isRetryable
                    ? .retryable(isTimeout: false, retryAfter: Self.retryAfter(response.header("Retry-After")))
                    : .permanent
            } catch let transport as HTTPClientError {
                error = transport
                failure =
                    transport.isRetryable ? .retryable(isTimeout: transport.isTimeout, retryAfter: nil) : .permanent
            }
            let metadata: Logger.Metadata = [
                "service": "\(call.service.signingName)", "operation": "\(call.operation)", "region": "\(call.region)",
                "account": "\(call.account)", "attempt": "\(attempt)",
                "error": "\((error as? any FleetError)?.errorClass ?? "\(type(of: error))")",
            ]
            switch configuration.retry.decide(
                attempt: attempt, failure: failure, quota: quota, random: configuration.random())
            {
            case .retry(let delay, let cost):
                configuration.logger.debug(
                    "retrying AWS call", metadata: metadata.merging(["delay": "\(delay)"]) { $1 })
                lastRetryCost = cost
                try await Task.sleep(for: delay)
            case .giveUp(let reason):
                if attempt > 1 {
                    configuration.logger.notice(
                        "AWS call failed after retries", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
                }
                throw error
            }
        }
    }

    /// The signed request, and the credentials that signed it (nil for unsigned calls).
    private func prepare(_ call: AWSCall, endpoint: URLParts, credentials provider: (any CredentialProvider)?)
        async throws
        -> (HTTPRequest, AWSCredentials?)
    {
        let host = endpoint.hostAndPort
        let path = endpoint.path + (call.path == "/" && !endpoint.path.isEmpty ? "" : call.path)
        var request = SigV4Request(
            method: call.method, host: host, path: path.isEmpty ? "/" : path, query: call.query,
            headers: [("Host", host)] + call.headers, body: call.body)
        var credentials: AWSCredentials?
        if call.signed {
            guard let provider else { throw CredentialError.notFound("\(call.service.signingName) \(call.operation)") }
            let signing = try await provider.credentials()
            credentials = signing
            let signer = SigV4Signer(
                service: call.service.signingName, region: call.service.signingRegion(for: call.region),
                keys: configuration.signingKeys)
            request = signer.sign(request, credentials: signing, date: configuration.now()).request
        }
        let query = request.query.isEmpty ? "" : "?" + request.encodedQuery
        return (
            HTTPRequest(
                method: call.method, url: "\(endpoint.scheme)://\(host)\(request.path)\(query)",
                headers: request.headers.filter { $0.0.lowercased() != "host" }, body: call.body,
                timeout: configuration.timeout, trust: configuration.trust), credentials
        )
    }

    private func bucket(for call: AWSCall) -> TokenBucket {
        let key = "\(call.service.signingName)/\(call.account)/\(call.service.isGlobal ? "global" : call.region)"
        let rate = configuration.rates[call.service.signingName] ?? call.service.defaultRate
        return buckets.withLock { buckets in
            if let bucket = buckets[key] { return bucket }
            let bucket = TokenBucket(rate: rate)
            buckets[key] = bucket
            return bucket
        }
    }

    private func quota(for host: String) -> RetryQuota {
        quotas.withLock { quotas in
            if let quota = quotas[host] { return quota }
            let quota = RetryQuota()
            quotas[host] = quota
            return quota
        }
    }

    /// Retry-After in seconds (HTTP dates are not used by AWS).
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}
