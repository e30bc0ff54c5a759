// The open-files limit. Debian's default soft limit is 1,024 descriptors, less than a hundred clusters in flight
// need (several connections each, Git's sockets and packs, the ledger); the hard limit is usually far higher, and
// raising the soft one up to it is what a process may always do (Go's runtime does it at start-up too).
import Foundation

public enum OpenFileLimit {
    /// Raises the soft limit to the hard one (at most `ceiling`); returns the soft limit in force afterwards.
    @discardableResult
    public static func raise(ceiling: Int = 65_536) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let wanted = min(limit.rlim_max, rlim_t(ceiling))
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(wanted) }
        }
        return Int(min(limit.rlim_cur, rlim_t(Int.max)))
    }

    /// The soft limit now.
    public static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(min(limit.rlim_cur, rlim_t(Int.max)))
    }
}
