// Request bodies that a fleet sends to every cluster, parsed once. fleetstrap encodes Flux's components once per
// fleet, so each cluster's API server receives the same bytes for every CRD and Deployment; the same bytes give the
// same object, so the parsed value and its field paths are kept here and shared by every cluster's store (values are
// copied on write: a store changes an object's metadata, not the schema beneath it). At 3,000 clusters the lab held
// 4.2 GB, 1.4 MB a cluster, most of it these objects and their paths, and parsing and walking them was a sixth of
// its CPU. Small bodies (sync objects, reviews) are parsed each time: they differ from cluster to cluster. Flux's
// Deployments (about 2 KB) are kept: they are the same everywhere, and listed again and again while awaited.
import FleetSupport
import Synchronization

final class ParsedBodies: Sendable {
    struct Parsed: Sendable {
        let value: JSONValue
        /// The field paths the object sets (`KubernetesStore.paths(of:)`), what an apply of it claims.
        let paths: Set<String>
        /// For a body kept here: what every store's rendering of the object has in common.
        var shared: SharedRendering?
    }

    /// Bytes as a dictionary key, hashed in one pass rather than byte by byte.
    private struct Key: Hashable {
        let bytes: [UInt8]
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    static let shared = ParsedBodies()

    /// Bodies smaller than this are not kept.
    let minimumSize = 1024
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

    /// `parse(bytes)`, from the cache when an apply sent these bytes before; not kept otherwise: what is created
    /// or replaced whole (a cluster's flux-system Secret, its private key included) is the cluster's own, and keeping
    /// it would only push the fleet's components out of the cache.
    func value(_ bytes: [UInt8], parse: ([UInt8]) -> JSONValue?) -> JSONValue? {
        guard bytes.count >= minimumSize, let hit = entries.withLock({ $0[Key(bytes: bytes)] }) else {
            return parse(bytes)
        }
        return hit.value
    }

    private func cached(_ bytes: [UInt8], parse: ([UInt8]) -> JSONValue?) -> Parsed? {
        let key = Key(bytes: bytes)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        guard let value = parse(bytes) else { return nil }
        let paths = KubernetesStore.paths(of: value)
        let parsed = Parsed(value: value, paths: paths, shared: SharedRendering(value: value, paths: paths))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = parsed
        }
        return parsed
    }
}

/// The parts of an applied object's rendering that are the same in every cluster's store: the FieldsV1 of the
/// manager that applied exactly these paths, and, encoded once, that and the object's `spec`. A CRD's schema and
/// its FieldsV1 are most of its bytes; encoding them again for every apply and every read was a seventh of the
/// lab's CPU in the fleet benchmark.
struct SharedRendering: Sendable {
    let paths: Set<String>
    let fieldsV1: JSONValue
    let encodings: [EncodedJSON]

    init(value: JSONValue, paths: Set<String>) {
        self.paths = paths
        fieldsV1 = KubernetesStore.fieldsV1(paths)
        encodings = [EncodedJSON(fieldsV1)] + (value["spec"].map { [EncodedJSON($0)] } ?? [])
    }
}
