// Counts of an inventory, for `validate` and the reports.

public struct InventorySummary: Sendable, Codable, Equatable {
    public var clusters: Int
    public var accounts: [String: Int]
    public var regions: [String: Int]
    public var repositories: [String: Int]
    public var transports: [String: Int]
    public var identities: Int
}

extension Inventory {
    /// Clusters per account, region, repository and transport, over `clusters` (all of them by default).
    public func summary(of clusters: [Cluster]? = nil) -> InventorySummary {
        let selected = clusters ?? self.clusters
        var s = InventorySummary(
            clusters: selected.count, accounts: [:], regions: [:], repositories: [:], transports: [:],
            identities: identities.count)
        let transportOf = Dictionary(uniqueKeysWithValues: repositories.map { ($0.name, $0.transport.rawValue) })
        for c in selected {
            s.accounts[c.account, default: 0] += 1
            s.regions[c.region, default: 0] += 1
            s.repositories[c.repository, default: 0] += 1
            s.transports[transportOf[c.repository] ?? "?", default: 0] += 1
        }
        return s
    }
}
