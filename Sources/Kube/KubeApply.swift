// Applying manifests as Flux does: CRDs and Namespaces first, wait until the CRDs are established, then the rest,
// all by server-side apply with field manager `flux` and force. Objects whose live state already holds every
// field we would apply, under our field manager, are left alone (no request beyond the read).
import FleetSupport
import Foundation
import Yams

public struct ApplyReport: Sendable, Equatable {
    /// `Kind namespace/name` of objects sent to the server.
    public var applied: [String] = []
    /// Already as wanted: not sent.
    public var unchanged: [String] = []
}

/// An object and its JSON text, encoded once: a fleet applies the same components to every cluster, and Flux's CRDs
/// are most of a megabyte.
public struct EncodedObject: Sendable {
    public let object: JSONValue
    public let body: [UInt8]

    public init(_ object: JSONValue) {
        self.object = object
        body = object.encoded
    }
}

extension KubeClient {
    /// Multi-document YAML as objects (empty documents skipped).
    public static func objects(fromYAML text: String) throws -> [JSONValue] {
        do {
            return try Yams.load_all(yaml: text).compactMap { document -> JSONValue? in
                let value = JSONValue(any: document)
                return value.object == nil ? nil : value
            }
        } catch {
            throw KubeError(.invalid, verb: "parse", object: "manifests", message: "not YAML: \(error)", cluster: "-")
        }
    }

    /// Requests one cluster's apply has in flight at once when the run says nothing (see `concurrency`).
    public static let defaultConcurrency = 8

    /// The fewest requests a cluster gets in flight, however many clusters a run works on at once.
    public static let minimumConcurrency = 4

    /// How many requests one cluster may have in flight when a run works on `parallel` clusters at once: the run's
    /// total stays near 256 (a stage of Flux's components, ~45 objects, takes 2 round trips instead of 6 when
    /// clusters go one at a time), never over 32 on one API server (Argo CD's default kubectl parallelism is 20; API
    /// Priority and Fairness queues beyond its seats) nor under 4. Each request in flight is a connection of its own
    /// (HTTP/1.1) and a TLS handshake on both ends, so a wide run gains nothing from more: at 1,000 clusters,
    /// `--parallel 100`, 4 instead of 8 a cluster cost fleetstrap 12% less CPU and the lab's API servers 12% less.
    public static func concurrency(parallel: Int) -> Int {
        min(32, max(minimumConcurrency, 256 / max(parallel, 1)))
    }

    /// Applies `objects` in Flux's order; returns what was sent and what was already in place. `readFirst`: look
    /// at each live object and leave alone those already as wanted; without it (a cluster known to hold none of
    /// them, e.g. no Flux CRD at all) every object is sent, as `flux install` sends them.
    public func applyAll(
        _ objects: [JSONValue], fieldManager: String = "flux", readFirst: Bool = true,
        establishTimeout: Duration = .seconds(60)
    ) async throws -> ApplyReport {
        try await applyAll(
            objects.map(EncodedObject.init), fieldManager: fieldManager, readFirst: readFirst,
            establishTimeout: establishTimeout)
    }

    /// `applyAll` for objects encoded beforehand.
    public func applyAll(
        _ objects: [EncodedObject], fieldManager: String = "flux", readFirst: Bool = true,
        establishTimeout: Duration = .seconds(60)
    ) async throws -> ApplyReport {
        func isFirst(_ encoded: EncodedObject) -> Bool {
            ["CustomResourceDefinition", "Namespace"].contains(encoded.object["kind"]?.string ?? "")
        }
        var report = ApplyReport()
        let first = objects.filter(isFirst)
        try await applyEach(first, fieldManager: fieldManager, readFirst: readFirst, report: &report)
        let crds = first.map(\.object).filter { $0["kind"]?.string == "CustomResourceDefinition" }.compactMap {
            $0[path: "metadata.name"]?.string
        }
        if !crds.isEmpty {
            try await waitEstablished(crds, timeout: establishTimeout)
            forgetDiscovery()
        }
        try await applyEach(
            objects.filter { !isFirst($0) }, fieldManager: fieldManager, readFirst: readFirst, report: &report)
        return report
    }

    /// One stage: its objects at once (bounded); the report in the objects' order; the first failure (in that
    /// order) is thrown once every request of the stage has ended.
    private func applyEach(_ objects: [EncodedObject], fieldManager: String, readFirst: Bool, report: inout ApplyReport)
        async throws
    {
        let outcomes = try await boundedTryMap(objects, limit: concurrency) { encoded -> (String, Bool) in
            let object = encoded.object
            let kind = object["kind"]?.string ?? "?"
            let name = object[path: "metadata.name"]?.string ?? "?"
            let label = Self.describe(kind, object[path: "metadata.namespace"]?.string, name)
            if readFirst,
                let live = try await self.get(
                    apiVersion: object["apiVersion"]?.string ?? "", kind: kind,
                    namespace: object[path: "metadata.namespace"]?.string, name: name),
                Self.holds(live, object), Self.managedBy(live, fieldManager)
            {
                return (label, false)
            }
            try await self.apply(encoded, fieldManager: fieldManager, returningObject: false)
            return (label, true)
        }
        for (label, sent) in outcomes {
            if sent { report.applied.append(label) } else { report.unchanged.append(label) }
        }
    }

    /// Whether a live object already holds everything `wanted` would apply.
    public static func holdsApplied(_ live: JSONValue, _ wanted: JSONValue) -> Bool { holds(live, wanted) }

    /// Whether `live` has every field of `wanted` with the same value (objects compared field by field, lists whole).
    static func holds(_ live: JSONValue, _ wanted: JSONValue) -> Bool {
        switch (live, wanted) {
        case (.object(let l), .object(let w)):
            return w.allSatisfy { key, value in l[key].map { holds($0, value) } ?? false }
        case (.array(let l), .array(let w)):
            return l.count == w.count && zip(l, w).allSatisfy { holds($0, $1) }
        default:
            return live == wanted
        }
    }

    static func managedBy(_ live: JSONValue, _ manager: String) -> Bool {
        (live[path: "metadata.managedFields"]?.array ?? []).contains {
            $0["manager"]?.string == manager && $0["operation"]?.string == "Apply"
        }
    }

    // MARK: Waiting

    /// Until every named CRD has `Established=True` (all of them looked at together on each pass).
    public func waitEstablished(_ names: [String], timeout: Duration, poll: Duration = .milliseconds(500)) async throws
    {
        let deadline = ContinuousClock.now + timeout
        var waiting = names
        var pause = min(poll, .milliseconds(50))
        while true {
            let established = try await boundedTryMap(waiting, limit: concurrency) { name in
                // Only the status matters here: the schema and the metadata (its managedFields as large again) are
                // not built.
                let crd = try await self.get(
                    apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespace: nil, name: name,
                    omitting: ["spec", "metadata"])
                return Self.condition(crd, "Established")?["status"]?.string == "True"
            }
            waiting = zip(waiting, established).filter { !$0.1 }.map(\.0)
            if waiting.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw KubeError(
                    .timeout, verb: "wait", object: "CustomResourceDefinition \(waiting[0])",
                    message: "not established after \(timeout)", cluster: access.name)
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 3 / 2, poll)
        }
    }

    public static func condition(_ object: JSONValue?, _ type: String) -> JSONValue? {
        object?[path: "status.conditions"]?.array?.first { $0["type"]?.string == type }
    }
}
