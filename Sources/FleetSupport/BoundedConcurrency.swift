// At most `limit` of the items at a time, each through `body`; the answers in the order of the items.
// None cancels another; cancelling the caller stops starting new ones (those get `whenCancelled`).

public func boundedMap<Item: Sendable, Answer: Sendable>(
    _ items: [Item], limit: Int, whenCancelled: @Sendable (Item) -> Answer,
    _ body: @escaping @Sendable (Item) async -> Answer
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

/// `boundedMap` for work that can fail: every item runs (at most `limit` at a time), then the first failure in the
/// items' order is thrown, or the answers returned in that order.
public func boundedTryMap<Item: Sendable, Answer: Sendable>(
    _ items: [Item], limit: Int, _ body: @escaping @Sendable (Item) async throws -> Answer
) async throws -> [Answer] {
    let results = await boundedMap(
        items, limit: limit, whenCancelled: { _ in Result<Answer, any Error>.failure(CancellationError()) }
    ) { item in
        do { return .success(try await body(item)) } catch { return .failure(error) }
    }
    return try results.map { try $0.get() }
}
