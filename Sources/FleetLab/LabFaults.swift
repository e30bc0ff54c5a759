// What can go wrong in the lab, on purpose: latency, errors and rate limits per service, account, region, cluster
// and repository; unreachable clusters; stuck source-controllers; rival pushes. Set in the lab config (`faults:`)
// and replaced while the lab runs (PUT /_lab/faults), so a test can break things mid-run.
import FleetSupport
import Foundation
import Synchronization
import Yams

public struct LabFaults: Codable, Sendable, Equatable {
    /// Requests matching every field given (absent fields match anything) get the latency and error.
    public struct Rule: Codable, Sendable, Equatable {
        /// `sts`, `iam`, `eks`, `codecommit`, `git` (Git over HTTPS) or `kubernetes`.
        public var service: String?
        /// The AWS action (`AssumeRole`, `DescribeCluster`, `GetRepository`…) or the Kubernetes verb (`get`, `list`,
        /// `create`, `update`, `patch`, `delete`) or the Git service (`git-upload-pack`, `git-receive-pack`).
        public var operation: String?
        /// Account name or id (the caller's for AWS, the cluster's or repository's otherwise).
        public var account: String?
        public var region: String?
        public var cluster: String?
        public var repository: String?
        /// `50ms`, or a uniform range `20ms..200ms`.
        public var latency: String?
        public var error: Kind?
        /// Chance a matching request is hit, 0…1 (default 1).
        public var probability: Double?
        /// Only the first `count` matching requests are hit.
        public var count: Int?
        /// Seconds, sent as Retry-After with `too-many-requests` (default 1).
        public var retryAfter: Int?

        public init(
            service: String? = nil, operation: String? = nil, account: String? = nil, region: String? = nil,
            cluster: String? = nil,
            repository: String? = nil, latency: String? = nil, error: Kind? = nil, probability: Double? = nil,
            count: Int? = nil,
            retryAfter: Int? = nil
        ) {
            (self.service, self.operation, self.account, self.region, self.cluster) = (
                service, operation, account, region, cluster
            )
            (self.repository, self.latency, self.error, self.probability, self.count) = (
                repository, latency, error, probability, count
            )
            self.retryAfter = retryAfter
        }
    }

    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// AWS `Throttling`/`ThrottlingException`; Kubernetes 429.
        case throttling
        /// 500.
        case internalError = "internal-error"
        /// 503.
        case unavailable
        /// 429 with Retry-After.
        case tooManyRequests = "too-many-requests"
        /// The connection is closed without an answer.
        case reset
        /// No answer until the client gives up (at most `hangSeconds`), then the connection is closed.
        case hang
        /// The caller's credentials are refused as expired: AWS `ExpiredToken`/`ExpiredTokenException` (403), a
        /// Kubernetes 401 (an EKS token past its time), a Git 403.
        case expiredToken = "expired-token"
    }

    /// AWS's own throttling: requests above `perSecond` (burst `burst`) per service, account and region get
    /// `Throttling`, as AWS answers them.
    public struct RateLimit: Codable, Sendable, Equatable {
        public var service: String
        public var account: String?
        public var region: String?
        public var perSecond: Double
        public var burst: Int?
        public init(
            service: String, account: String? = nil, region: String? = nil, perSecond: Double, burst: Int? = nil
        ) {
            (self.service, self.account, self.region, self.perSecond, self.burst) = (
                service, account, region, perSecond, burst
            )
        }
    }

    /// Another writer pushes a commit to `repository` just before each of the next `pushes` pushes to it (over
    /// HTTPS or SSH), so those pushes are non-fast-forward.
    public struct RivalPush: Codable, Sendable, Equatable {
        public var repository: String
        public var account: String
        public var pushes: Int?
        public init(repository: String, account: String, pushes: Int? = nil) {
            (self.repository, self.account, self.pushes) = (repository, account, pushes)
        }
    }

    public var rules: [Rule]?
    public var rateLimits: [RateLimit]?
    /// Their API servers refuse connections.
    public var unreachableClusters: [String]?
    /// Their source-controller reconciles nothing.
    public var stuckClusters: [String]?
    public var rivalPushes: [RivalPush]?
    /// Cluster → the only SSH key ids its source-controller can authenticate with (as if something between the
    /// cluster and CodeCommit refused the others): a cluster that cannot fetch with a rotated key.
    public var allowedSSHKeys: [String: [String]]?
    /// The longest a `hang` lasts (default 30 s).
    public var hangSeconds: Double?

    public init(
        rules: [Rule]? = nil, rateLimits: [RateLimit]? = nil, unreachableClusters: [String]? = nil,
        stuckClusters: [String]? = nil, rivalPushes: [RivalPush]? = nil, allowedSSHKeys: [String: [String]]? = nil,
        hangSeconds: Double? = nil
    ) {
        (self.rules, self.rateLimits, self.unreachableClusters) = (rules, rateLimits, unreachableClusters)
        (self.stuckClusters, self.rivalPushes, self.allowedSSHKeys, self.hangSeconds) = (
            stuckClusters, rivalPushes, allowedSSHKeys, hangSeconds
        )
    }

    /// Reads faults from YAML (or JSON).
    public static func load(path: String) throws -> LabFaults {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            ? LabFaults() : try YAMLDecoder().decode(LabFaults.self, from: text)
    }

    public static let services: Set<String> = ["sts", "iam", "eks", "codecommit", "git", "kubernetes"]

    /// Refuses what cannot mean anything: unknown services, accounts or clusters, bad latencies.
    func check(_ config: LabConfig) throws {
        let accounts = Set(config.accounts.flatMap { [$0.name, $0.id] })
        let clusters = Set(config.clusters.map(\.name))
        func known(_ value: String?, in set: Set<String>, _ what: String) throws {
            if let value, !set.contains(value) {
                throw LabConfig.Invalid(description: "faults: unknown \(what) '\(value)'")
            }
        }
        for rule in rules ?? [] {
            try known(rule.service, in: Self.services, "service")
            try known(rule.account, in: accounts, "account")
            try known(rule.cluster, in: clusters, "cluster")
            if let latency = rule.latency, Self.latencyRange(latency) == nil {
                throw LabConfig.Invalid(
                    description: "faults: latency '\(latency)' is not a duration (50ms) or a range (20ms..200ms)")
            }
            if let p = rule.probability, !(0...1).contains(p) {
                throw LabConfig.Invalid(description: "faults: probability \(p) is not between 0 and 1")
            }
        }
        for limit in rateLimits ?? [] {
            try known(limit.service, in: Self.services, "service")
            try known(limit.account, in: accounts, "account")
            guard limit.perSecond > 0 else {
                throw LabConfig.Invalid(description: "faults: rate limit perSecond must be positive")
            }
        }
        for cluster in (unreachableClusters ?? []) + (stuckClusters ?? []) + (allowedSSHKeys ?? [:]).keys.sorted() {
            try known(cluster, in: clusters, "cluster")
        }
        for push in rivalPushes ?? [] {
            try known(push.account, in: accounts, "account")
            let accountName = config.accounts.first { $0.id == push.account }?.name ?? push.account
            guard config.repositories.contains(where: { $0.name == push.repository && $0.account == accountName })
            else {
                throw LabConfig.Invalid(
                    description: "faults: no repository '\(push.repository)' in account '\(push.account)'")
            }
        }
    }

    static func latencyRange(_ text: String) -> ClosedRange<Double>? {
        let parts = text.components(separatedBy: "..")
        let values = parts.compactMap { DurationText.parse($0.trimmingCharacters(in: .whitespaces)).map(\.seconds) }
        guard values.count == parts.count, (1...2).contains(values.count), values[0] <= values[values.count - 1] else {
            return nil
        }
        return values[0]...values[values.count - 1]
    }
}

/// The faults in force and what they have used up (counts, rate-limit tokens).
final class FaultInjector: Sendable {
    struct Call: Sendable {
        var service: String
        var operation: String?
        var accountID: String?
        var region: String?
        var cluster: String?
        var repository: String?
    }

    struct Decision: Sendable, Equatable {
        var latency: Double = 0
        var error: LabFaults.Kind?
        var retryAfter = 1
        /// The error comes from a rate limit rather than a rule.
        var rateLimited = false
        var hangSeconds: Double = 30
    }

    private struct Live: Sendable {
        let faults: LabFaults
        var used: [Int: Int] = [:]
        var buckets: [String: (tokens: Double, at: Date)] = [:]
        /// Each rule's latency, read once (reading "20ms" again for every request was 1.5% of the lab's CPU).
        let latencies: [ClosedRange<Double>?]

        init(faults: LabFaults = LabFaults()) {
            self.faults = faults
            latencies = (faults.rules ?? []).map { $0.latency.flatMap(LabFaults.latencyRange) }
        }
    }

    private let live = Mutex(Live())
    private let accountIDs: [String: String]
    private let now: @Sendable () -> Date
    /// Called with the new faults after each change (the lab syncs listeners and rival-push markers).
    let changed = Mutex<(@Sendable (LabFaults) -> Void)?>(nil)

    init(accounts: [LabConfig.Account], now: @escaping @Sendable () -> Date) {
        accountIDs = Dictionary(accounts.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        self.now = now
    }

    var current: LabFaults { live.withLock { $0.faults } }

    func set(_ faults: LabFaults) {
        live.withLock { $0 = Live(faults: faults) }
        changed.withLock { $0 }?(faults)
    }

    func isUnreachable(_ cluster: String) -> Bool {
        live.withLock { $0.faults.unreachableClusters?.contains(cluster) ?? false }
    }
    func isStuck(_ cluster: String) -> Bool { live.withLock { $0.faults.stuckClusters?.contains(cluster) ?? false } }
    func allowsKey(cluster: String, keyID: String) -> Bool {
        live.withLock { $0.faults.allowedSSHKeys?[cluster].map { $0.contains(keyID) } ?? true }
    }

    func decide(_ call: Call) -> Decision {
        let instant = now()
        return live.withLock { live in
            var decision = Decision(hangSeconds: live.faults.hangSeconds ?? 30)
            for (index, rule) in (live.faults.rules ?? []).enumerated() where matches(rule, call) {
                // The first error wins; later error rules keep their counts for later requests.
                if rule.error != nil, decision.error != nil { continue }
                if let count = rule.count, live.used[index, default: 0] >= count { continue }
                if let p = rule.probability, p < 1, Double.random(in: 0..<1) >= p { continue }
                live.used[index, default: 0] += 1
                if let range = live.latencies[index] {
                    decision.latency += Double.random(in: range)
                }
                if let error = rule.error {
                    decision.error = error
                    decision.retryAfter = rule.retryAfter ?? 1
                }
            }
            if decision.error == nil {
                for limit in live.faults.rateLimits ?? []
                where limit.service == call.service
                    && (limit.account.map { id($0) == call.accountID } ?? true)
                    && (limit.region.map { $0 == call.region } ?? true)
                {
                    let key = "\(limit.service)/\(call.accountID ?? "")/\(call.region ?? "")"
                    let burst = Double(limit.burst ?? max(1, Int(limit.perSecond)))
                    var bucket = live.buckets[key] ?? (burst, instant)
                    bucket.tokens = min(burst, bucket.tokens + instant.timeIntervalSince(bucket.at) * limit.perSecond)
                    bucket.at = instant
                    if bucket.tokens >= 1 {
                        bucket.tokens -= 1
                    } else {
                        decision.error = .throttling
                        decision.rateLimited = true
                    }
                    live.buckets[key] = bucket
                }
            }
            return decision
        }
    }

    private func id(_ account: String) -> String { accountIDs[account] ?? account }

    private func matches(_ rule: LabFaults.Rule, _ call: Call) -> Bool {
        (rule.service.map { $0 == call.service } ?? true)
            && (rule.operation.map { $0.caseInsensitiveCompare(call.operation ?? "") == .orderedSame } ?? true)
            && (rule.account.map { id($0) == call.accountID } ?? true)
            && (rule.region.map { $0 == call.region } ?? true)
            && (rule.cluster.map { $0 == call.cluster } ?? true)
            && (rule.repository.map { $0 == call.repository } ?? true)
    }
}

/// How an injected error reads in each of the lab's protocols.
enum FaultAnswer {
    case aws(LabProtocol)
    case git
    case kubernetes

    func response(_ decision: FaultInjector.Decision) -> LabResponse {
        guard let error = decision.error else { return LabResponse(status: 200) }
        let retryAfter = [("Retry-After", String(decision.retryAfter))]
        switch (self, error) {
        case (_, .reset), (_, .hang):
            return .abort
        case (.aws(let kind), _):
            let json: Bool = if case .query = kind { false } else { true }
            let refusal =
                switch error {
                case .throttling:
                    LabError(
                        code: json ? "ThrottlingException" : "Throttling", message: "Rate exceeded",
                        status: kind.isRest ? 429 : 400)
                case .internalError:
                    LabError(
                        code: json ? "InternalFailure" : "InternalFailure",
                        message: "We encountered an internal error. Please try again.", status: 500, type: "Receiver")
                case .unavailable:
                    LabError(
                        code: "ServiceUnavailable", message: "Service is unavailable. Please try again.", status: 503,
                        type: "Receiver")
                case .expiredToken:
                    LabError(
                        code: json ? "ExpiredTokenException" : "ExpiredToken",
                        message: "The security token included in the request is expired", status: 403)
                default: LabError(code: "TooManyRequestsException", message: "Too many requests", status: 429)
                }
            var answer = refusal.response(protocol: kind)
            if error == .tooManyRequests { answer.headers += retryAfter }
            return answer
        case (.git, _):
            let (status, text) =
                switch error {
                case .internalError: (500, "Internal Server Error")
                case .unavailable: (503, "Service Unavailable")
                case .expiredToken: (403, "Forbidden")
                default: (429, "Too Many Requests")
                }
            return LabResponse(
                status: status, headers: status == 429 ? retryAfter : [], body: Array("fleetstrap-lab: \(text)\n".utf8))
        case (.kubernetes, _):
            let status =
                switch error {
                case .internalError:
                    KubernetesError(
                        code: 500, reason: "InternalError",
                        message:
                            """
                            an error on the server (\"fleetstrap-lab injected fault\") has prevented the request \
                            from succeeding
                            """
                    )
                case .unavailable:
                    KubernetesError(
                        code: 503, reason: "ServiceUnavailable",
                        message: "the server is currently unable to handle the request")
                case .expiredToken: KubernetesError(code: 401, reason: "Unauthorized", message: "Unauthorized")
                default:
                    KubernetesError(
                        code: 429, reason: "TooManyRequests",
                        message: "the server has received too many requests and has asked us to try again later")
                }
            var answer = KubernetesAPI.status(status)
            if status.code == 429 { answer.headers += retryAfter }
            return answer
        }
    }
}

extension LabProtocol {
    var isRest: Bool { if case .restJSON = self { true } else { false } }
}

extension FaultInjector {
    /// Applies the faults to one request: waits out the latency, counts what is injected, and returns the answer
    /// that replaces the real one (nil: serve it).
    func intercept(_ call: Call, answer: FaultAnswer, state: LabState) async -> LabResponse? {
        let decision = decide(call)
        if decision.latency > 0 { try? await Task.sleep(for: .seconds(decision.latency)) }
        guard let error = decision.error else { return nil }
        state.count(error == .throttling || error == .tooManyRequests ? .throttled : .failed, service: call.service)
        if error == .hang {
            // Until the client gives up, the hang ends, or the lab stops (the task is cancelled).
            try? await Task.sleep(for: .seconds(decision.hangSeconds))
        }
        return answer.response(decision)
    }
}
