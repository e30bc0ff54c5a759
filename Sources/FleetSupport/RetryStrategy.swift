// The AWS SDKs' "standard" retry mode as a pure decision: at most 3 attempts, full-jitter exponential backoff capped
// at 20 s, and a shared retry quota (500; a retry costs 5, 10 after a timeout; success refunds) so that a failing
// service is not hammered by every caller at once.
import Synchronization

public struct RetryStrategy: Sendable {
    public var maxAttempts = 3
    public var maxBackoff: Duration = .seconds(20)
    /// Longest wait accepted from a server's Retry-After.
    public var maxRetryAfter: Duration = .seconds(20)

    public init() {}

    public enum Failure: Sendable, Equatable {
        /// Throttling, 5xx, connection errors: worth another attempt.
        case retryable(isTimeout: Bool, retryAfter: Duration?)
        /// Anything else: permanent for this request.
        case permanent
    }

    public enum Decision: Sendable, Equatable {
        case retry(after: Duration, cost: Int)
        case giveUp(reason: String)
    }

    /// What to do after `attempt` (1-based) failed. `random` is in [0, 1), injected for tests.
    public func decide(attempt: Int, failure: Failure, quota: RetryQuota, random: Double) -> Decision {
        guard case .retryable(let isTimeout, let retryAfter) = failure else { return .giveUp(reason: "not retryable") }
        guard attempt < maxAttempts else { return .giveUp(reason: "\(maxAttempts) attempts made") }
        let cost = isTimeout ? RetryQuota.timeoutCost : RetryQuota.retryCost
        guard quota.acquire(cost) else { return .giveUp(reason: "retry quota exhausted") }
        let cap = min(Double(1 << min(attempt - 1, 30)), maxBackoff.seconds)
        var delay = Duration.seconds(random * cap)
        if let retryAfter { delay = min(max(delay, retryAfter), maxRetryAfter) }
        return .retry(after: delay, cost: cost)
    }
}

/// The retry quota shared by all requests to one service endpoint.
public final class RetryQuota: Sendable {
    public static let capacity = 500
    public static let retryCost = 5
    public static let timeoutCost = 10
    public static let noRetryIncrement = 1

    private let available = Mutex(RetryQuota.capacity)

    public init() {}

    public var remaining: Int { available.withLock { $0 } }

    /// Takes `cost` if that much is left.
    public func acquire(_ cost: Int) -> Bool {
        available.withLock { left in
            guard left >= cost else { return false }
            left -= cost
            return true
        }
    }

    /// After a success: a retried request gives back what its last retry took (as botocore does), a first-try
    /// success adds 1.
    public func recordSuccess(lastRetryCost: Int) {
        available.withLock { left in
            left = min(Self.capacity, left + (lastRetryCost > 0 ? lastRetryCost : Self.noRetryIncrement))
        }
    }
}

extension Duration {
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
