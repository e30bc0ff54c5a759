// Connections of their own for one server's requests, closed together when the pool goes. A fleet meets each
// Kubernetes API server once: in the process-wide cache, the connections of finished clusters only pile up, and
// libcurl 7.88's cache does not take thousands of hosts well (evicting from a full cache leaves the host's empty
// bundle behind for every later eviction to walk; pruning restarts its walk after each connection it closes). The
// fleet benchmark measured libcurl at 14% of fleetstrap's CPU at 1,000 clusters and 40% at 10,000 before this.
import CCurl

/// `@unchecked Sendable`: libcurl locks the share through the mutexes it was made with.
public final class HTTPConnectionPool: @unchecked Sendable {
    private let pool: UnsafeMutablePointer<fs_curl_pool>

    public init() {
        _ = HTTPClient.tlsSessions  // curl_global_init first
        guard let pool = fs_curl_pool_new(1) else { fatalError("curl_share_init failed: libcurl is unusable") }
        self.pool = pool
    }

    /// Every transfer that used the pool holds it, so this runs after their easy handles are gone.
    deinit { fs_curl_pool_free(pool) }

    var share: UnsafeMutableRawPointer { pool.pointee.share }
}
