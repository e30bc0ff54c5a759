// Splitting a fleet across runners (a Kubernetes Indexed Job, CI matrix jobs): each shard takes whole groups of
// clusters, so that one repository has one writer and one SSH identity one key maker. A group is an SSH identity
// (all its repositories) or, for HTTPS repositories, the repository. Groups go to shards largest first, each to the
// shard with the fewest clusters so far (ties: the lower index), so the split is deterministic and balanced; every
// runner computes the same split from the same inventory.
import Inventory

public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based.
    public let index: Int
    public let count: Int

    public var description: String { "\(index)/\(count)" }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `I/N` (0 ≤ I < N), or `N` alone with the index from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job).
    public init(_ text: String, environment: [String: String]) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let indexText: String?
        let countText: String
        switch parts.count {
        case 1: (indexText, countText) = (environment["JOB_COMPLETION_INDEX"], parts[0])
        case 2: (indexText, countText) = (parts[0], parts[1])
        default:
            throw Invalid(description: "--shard '\(text)': write I/N (e.g. 0/4), or N with JOB_COMPLETION_INDEX set")
        }
        guard let count = Int(countText), count >= 1, count <= 10_000 else {
            throw Invalid(description: "--shard '\(text)': the number of shards must be 1 to 10000")
        }
        guard let indexText else {
            throw Invalid(
                description:
                    """
                    --shard \(count): JOB_COMPLETION_INDEX is not set (it is in a Kubernetes Indexed Job); or write \
                    I/N
                    """
            )
        }
        guard let index = Int(indexText), index >= 0, index < count else {
            throw Invalid(description: "--shard: index '\(indexText)' must be 0 to \(count - 1)")
        }
        (self.index, self.count) = (index, count)
    }

    public init(index: Int, count: Int) { (self.index, self.count) = (index, count) }

    /// The group a cluster goes with: its repository's SSH identity, or its repository.
    static func group(of cluster: Cluster, in inventory: Inventory) -> String {
        guard let repository = inventory.repository(named: cluster.repository) else {
            return "repository:\(cluster.repository)"
        }
        if repository.transport == .ssh, let identity = repository.identity { return "identity:\(identity)" }
        return "repository:\(repository.name)"
    }

    /// Each group's shard, for every cluster of the inventory (the whole fleet, so that selectors do not move groups).
    public static func assignment(_ inventory: Inventory, count: Int) -> [String: Int] {
        var sizes: [String: Int] = [:]
        for cluster in inventory.clusters { sizes[group(of: cluster, in: inventory), default: 0] += 1 }
        var load = [Int](repeating: 0, count: max(1, count))
        var shardOf: [String: Int] = [:]
        for (group, size) in sizes.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            let target = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            shardOf[group] = target
            load[target] += size
        }
        return shardOf
    }

    /// The clusters of `clusters` that belong to this shard, in their order.
    public func clusters(_ clusters: [Cluster], of inventory: Inventory) -> [Cluster] {
        let shardOf = Self.assignment(inventory, count: count)
        return clusters.filter { shardOf[Self.group(of: $0, in: inventory)] == index }
    }
}
