// Connections of their own for one server's requests, closed together when the pool goes. A fleet meets each
// Kubernetes API server once: in the process-wide cache, the connections of finished clusters only pile up, and
// libcurl 7.88's cache does not take thousands of hosts well (evicting from a full cache leaves the host's empty
// bundle behind for every later eviction to walk; pruning restarts its walk after each connection it closes). The
// fleet benchmark measured libcurl at 14% of fleetstrap's CPU at 1,000 clusters and 40% at 10,000 before this.
import CCurl
import Synchronization

/// `@unchecked Sendable`: libcurl locks the share through the mutexes it was made with; the trust store is behind a
/// mutex and OpenSSL reference counts it.
public final class HTTPConnectionPool: @unchecked Sendable {
    private let pool: UnsafeMutablePointer<fs_curl_pool>
    /// The server's CA, parsed once for every connection of the pool (see `trust.h`): the PEM it was parsed from
    /// and the store, nil when that PEM held no certificate.
    private let trusted = Mutex<(pem: [UInt8], store: OpaquePointer?)?>(nil)

    public init() {
        _ = HTTPClient.tlsSessions  // curl_global_init first
        guard let pool = fs_curl_pool_new(1) else { fatalError("curl_share_init failed: libcurl is unusable") }
        self.pool = pool
    }

    /// Every transfer that used the pool holds it, so this runs after their easy handles are gone.
    deinit {
        fs_curl_pool_free(pool)
        if let store = trusted.withLock({ $0?.store }) { fs_trust_store_free(store) }
    }

    /// The store for `pem` when it is the PEM this pool's connections trust (the first one asked for); nil for any
    /// other, whose requests then hand libcurl the PEM itself. Connections verified against one store are only
    /// reused by requests trusting that same PEM: libcurl sees the others' CA and keeps their connections apart.
    func trustStore(for pem: [UInt8]) -> OpaquePointer? {
        trusted.withLock { trusted in
            if let trusted { return trusted.pem == pem ? trusted.store : nil }
            let store = pem.withUnsafeBufferPointer { fs_trust_store_new($0.baseAddress, $0.count) }
            trusted = (pem, store)
            return store
        }
    }

    var share: UnsafeMutableRawPointer { pool.pointee.share }
}
