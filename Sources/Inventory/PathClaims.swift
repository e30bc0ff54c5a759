// Which cluster folders of a repository collide: the same folder, or one inside another.

/// The directories a repository's clusters claim. A claim conflicts with another at the same path, above it or below
/// it; each claim is indexed under its own path and under each directory above it, so a check looks up the path and
/// its ancestors instead of comparing it with every earlier cluster of the repository (10,000 clusters in one
/// repository would be 50 million comparisons).
struct PathClaims {
    struct Claim {
        let path: String
        let cluster: String
        let location: SourceLocation
    }

    private var claims: [Claim] = []
    /// Claims by their path.
    private var at: [Substring: [Int]] = [:]
    /// Claims by each directory above their path.
    private var below: [Substring: [Int]] = [:]

    /// The earlier claims `path` conflicts with, in the order they were made.
    func conflicts(with path: String) -> [Claim] {
        var found = at[path[...], default: []] + below[path[...], default: []]
        for ancestor in Self.ancestors(of: path) { found += at[ancestor, default: []] }
        return found.sorted().map { claims[$0] }
    }

    mutating func claim(_ path: String, cluster: String, location: SourceLocation) {
        at[path[...], default: []].append(claims.count)
        for ancestor in Self.ancestors(of: path) { below[ancestor, default: []].append(claims.count) }
        claims.append(Claim(path: path, cluster: cluster, location: location))
    }

    /// `a/b/c` → `a`, `a/b`.
    private static func ancestors(of path: String) -> [Substring] {
        path.indices.filter { path[$0] == "/" }.map { path[..<$0] }
    }
}
