// When to look at each cluster again, for the lab's controllers: the clusters due by a time come out in
// O(log n) each, where scanning every known cluster on each tick cost the lab a fifth of its CPU at 10,000 clusters.
import Foundation

struct TimerQueue: Sendable {
    /// Cluster → the earliest time it is due (the truth; the heap may hold older, superseded entries).
    private var due: [String: Date] = [:]
    /// A binary min-heap on the date.
    private var heap: [(date: Date, cluster: String)] = []

    /// `cluster` is due at `date`, or earlier if it already was.
    mutating func schedule(_ cluster: String, at date: Date) {
        if let current = due[cluster], current <= date { return }
        due[cluster] = date
        heap.append((date, cluster))
        siftUp(heap.count - 1)
    }

    /// The clusters due by `now`, each once, removed from the queue.
    mutating func takeDue(by now: Date) -> [String] {
        var out: [String] = []
        while let top = heap.first, top.date <= now {
            removeTop()
            // An entry superseded by an earlier one (already taken) or taken already: skipped.
            if due[top.cluster] == top.date {
                due[top.cluster] = nil
                out.append(top.cluster)
            }
        }
        return out
    }

    var isEmpty: Bool { due.isEmpty }

    private mutating func removeTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        siftDown(0)
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].date < heap[parent].date else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].date < heap[smallest].date { smallest = left }
            if right < heap.count, heap[right].date < heap[smallest].date { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
