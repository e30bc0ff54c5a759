// Rate limits as token buckets: `rate` requests a second with bursts up to `burst`. A waiter reserves its token and
// sleeps off the deficit, so waiters are served in arrival order; a cancelled waiter gives its token back.

public actor TokenBucket {
    public nonisolated let rate: Double
    public nonisolated let burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant
    private let clock = ContinuousClock()

    public init(rate: Double, burst: Double? = nil) {
        precondition(rate > 0, "a token bucket needs a positive rate")
        self.rate = rate
        self.burst = max(1, burst ?? rate)
        self.tokens = self.burst
        self.updated = ContinuousClock.now
    }

    /// Takes one token, waiting as long as the rate requires. Throws `CancellationError` if cancelled while waiting.
    public func acquire() async throws {
        try Task.checkCancellation()
        refill()
        tokens -= 1
        guard tokens < 0 else { return }
        let wait = Duration.seconds(-tokens / rate)
        do {
            try await clock.sleep(for: wait)
        } catch {
            tokens += 1
            throw error
        }
    }

    /// Tokens available now (negative while waiters hold reservations).
    public func available() -> Double {
        refill()
        return tokens
    }

    private func refill() {
        let now = clock.now
        let elapsed = updated.duration(to: now)
        updated = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
    }
}
