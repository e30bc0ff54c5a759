// The open-files soft limit is raised to the hard one (capped), never lowered.
import FleetSupport
import Foundation
import Testing

@Suite struct OpenFileLimitTests {
    @Test func raisesTheSoftLimitToTheHardOneCapped() {
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        let before = Int(min(limit.rlim_cur, rlim_t(Int.max)))
        let after = OpenFileLimit.raise(ceiling: 65_536)
        #expect(after == OpenFileLimit.current)
        #expect(after >= before, "never lowered")
        #expect(after == max(before, Int(min(limit.rlim_max, 65_536))))
    }
}
