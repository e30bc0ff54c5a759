import Foundation
import Testing

// The lab controllers' timer queue: clusters come out once, in time order, at the earliest time they were due.
@testable import FleetLab

@Suite("Lab: the controllers' timer queue")
struct TimerQueueTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func clustersComeOutOnceAtTheEarliestTimeTheyWereDue() {
        var queue = TimerQueue()
        queue.schedule("a", at: t0 + 5)
        queue.schedule("b", at: t0 + 1)
        queue.schedule("a", at: t0 + 2)  // earlier: wins
        queue.schedule("b", at: t0 + 9)  // later: ignored
        queue.schedule("c", at: .distantPast)
        queue.schedule("c", at: .distantPast)
        #expect(queue.takeDue(by: t0) == ["c"])
        #expect(queue.takeDue(by: t0 + 1.5) == ["b"])
        #expect(queue.takeDue(by: t0 + 3) == ["a"])
        #expect(queue.takeDue(by: t0 + 10).isEmpty, "superseded entries never come out")
        #expect(queue.isEmpty)
        // Due again after being taken: comes out again.
        queue.schedule("a", at: t0 + 5)
        #expect(queue.takeDue(by: t0 + 5) == ["a"])
    }

    @Test func manyTimersComeOutInOrderAgainstASortedReference() {
        var queue = TimerQueue()
        var generator = SystemRandomNumberGenerator()
        var earliest: [String: Date] = [:]
        for i in 0..<2_000 {
            let cluster = "c\(i % 500)"
            let date = t0 + Double(UInt16.random(in: 0...1_000, using: &generator))
            queue.schedule(cluster, at: date)
            earliest[cluster] = min(earliest[cluster] ?? .distantFuture, date)
        }
        var seen: [String: Date] = [:]
        var now = t0
        while now <= t0 + 1_000 {
            for cluster in queue.takeDue(by: now) {
                #expect(seen[cluster] == nil, "\(cluster) came out twice")
                #expect(earliest[cluster]! <= now && earliest[cluster]! > now - 10, "\(cluster) came out when due")
                seen[cluster] = now
            }
            now += 10
        }
        #expect(seen.count == earliest.count)
    }
}
