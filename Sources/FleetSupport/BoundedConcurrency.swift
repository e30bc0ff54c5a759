// At most `limit` of the items at a time, each through `body`; the answers in the order of the items.
// None cancels another; cancelling the caller stops starting new ones (those get `whenCancelled`).

public func boundedMap<Item: Sendable, Answer: Sendable>(
    _ items: [Item], limit: Int, whenCancelled: @Sendable (Item) -> Answer, _ body: @escaping @Sendable (Item) async -> Answer
) async -> [Answer] {
    var answers = [Answer?](repeating: nil, count: items.count)
    await withTaskGroup(of: (Int, Answer).self) { group in
        var next = 0
        func startOne() {
            let index = next
            let item = items[index]
            group.addTask { (index, await body(item)) }
            next += 1
        }
        while next < min(items.count, max(1, limit)), !Task.isCancelled { startOne() }
        while let (index, answer) = await group.next() {
            answers[index] = answer
            if next < items.count, !Task.isCancelled { startOne() }
        }
    }
    return items.indices.map { answers[$0] ?? whenCancelled(items[$0]) }
}
