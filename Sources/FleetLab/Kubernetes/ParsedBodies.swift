// Request bodies that a fleet sends to every cluster, parsed once. fleetstrap encodes Flux's components once per
// fleet, so each cluster's API server receives the same bytes for every CRD and Deployment; the same bytes give the
// same object, so the parsed value and its field paths are kept here and shared by every cluster's store (values are
// copied on write: a store changes an object's metadata, not the schema beneath it). At 3,000 clusters the lab held
// 4.2 GB, 1.4 MB a cluster, most of it these objects and their paths, and parsing and walking them was a sixth of
// its CPU. Small bodies (sync objects, reviews) are parsed each time: they differ from cluster to cluster.
import FleetSupport
import Synchronization

final class ParsedBodies: Sendable {
    struct Parsed: Sendable {
        let value: JSONValue
        /// The field paths the object sets (`KubernetesStore.paths(of:)`), what an apply of it claims.
        let paths: Set<String>
    }

    /// Bytes as a dictionary key, hashed in one pass rather than byte by byte.
    private struct Key: Hashable {
        let bytes: [UInt8]
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    static let shared = ParsedBodies()

    /// Bodies smaller than this are not kept.
    let minimumSize = 4096
    /// Distinct bodies kept; past this the cache starts over (a fleet's components are a few dozen).
    let capacity = 512
    private let entries = Mutex<[Key: Parsed]>([:])

    /// `parse(bytes)` with its paths, from the cache when these bytes were seen before; nil when `parse` gives nil.
    func parsed(_ bytes: [UInt8], parse: ([UInt8]) -> JSONValue?) -> Parsed? {
        guard bytes.count >= minimumSize else {
            return parse(bytes).map { Parsed(value: $0, paths: KubernetesStore.paths(of: $0)) }
        }
        return cached(bytes, parse: parse)
    }

    /// `parse(bytes)`, from the cache when these bytes were seen before.
    func value(_ bytes: [UInt8], parse: ([UInt8]) -> JSONValue?) -> JSONValue? {
        bytes.count >= minimumSize ? cached(bytes, parse: parse)?.value : parse(bytes)
    }

    private func cached(_ bytes: [UInt8], parse: ([UInt8]) -> JSONValue?) -> Parsed? {
        let key = Key(bytes: bytes)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        guard let value = parse(bytes) else { return nil }
        let parsed = Parsed(value: value, paths: KubernetesStore.paths(of: value))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = parsed
        }
        return parsed
    }
}
