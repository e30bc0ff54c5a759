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

    /// Applies `objects` in Flux's order; returns what was sent and what was already in place.
    public func applyAll(_ objects: [JSONValue], fieldManager: String = "flux", establishTimeout: Duration = .seconds(60)) async throws -> ApplyReport {
        func isFirst(_ object: JSONValue) -> Bool { ["CustomResourceDefinition", "Namespace"].contains(object["kind"]?.string ?? "") }
        var report = ApplyReport()
        let first = objects.filter(isFirst)
        try await applyEach(first, fieldManager: fieldManager, report: &report)
        let crds = first.filter { $0["kind"]?.string == "CustomResourceDefinition" }.compactMap { $0[path: "metadata.name"]?.string }
        if !crds.isEmpty {
            try await waitEstablished(crds, timeout: establishTimeout)
            forgetDiscovery()
        }
        try await applyEach(objects.filter { !isFirst($0) }, fieldManager: fieldManager, report: &report)
        return report
    }

    private func applyEach(_ objects: [JSONValue], fieldManager: String, report: inout ApplyReport) async throws {
        for object in objects {
            let kind = object["kind"]?.string ?? "?", name = object[path: "metadata.name"]?.string ?? "?"
            let label = Self.describe(kind, object[path: "metadata.namespace"]?.string, name)
            if let live = try await get(
                apiVersion: object["apiVersion"]?.string ?? "", kind: kind, namespace: object[path: "metadata.namespace"]?.string, name: name),
                Self.holds(live, object), Self.managedBy(live, fieldManager)
            {
                report.unchanged.append(label)
                continue
            }
            _ = try await apply(object, fieldManager: fieldManager)
            report.applied.append(label)
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
        (live[path: "metadata.managedFields"]?.array ?? []).contains { $0["manager"]?.string == manager && $0["operation"]?.string == "Apply" }
    }

    // MARK: Waiting

    /// Until every named CRD has `Established=True`.
    public func waitEstablished(_ names: [String], timeout: Duration, poll: Duration = .milliseconds(500)) async throws {
        let deadline = ContinuousClock.now + timeout
        for name in names {
            while true {
                let crd = try await get(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespace: nil, name: name)
                if Self.condition(crd, "Established")?["status"]?.string == "True" { break }
                guard ContinuousClock.now < deadline else {
                    throw KubeError(.timeout, verb: "wait", object: "CustomResourceDefinition \(name)", message: "not established after \(timeout)", cluster: access.name)
                }
                try await Task.sleep(for: poll)
            }
        }
    }

    public static func condition(_ object: JSONValue?, _ type: String) -> JSONValue? {
        object?[path: "status.conditions"]?.array?.first { $0["type"]?.string == type }
    }
}
