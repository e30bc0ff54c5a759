// One simulated cluster's objects and the API server's rules for them: resource types (built in, and those CRDs
// define), create/update/delete with resourceVersion and generation, and server-side apply with field managers,
// ownership and conflicts. A value type: the server keeps one per cluster behind a lock, tests drive it directly.
import FleetSupport
import Foundation
import SigV4

public struct ResourceType: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    public var plural: String
    public var namespaced: Bool
    public var shortNames: [String] = []

    public init(
        group: String, version: String, kind: String, plural: String, namespaced: Bool, shortNames: [String] = []
    ) {
        (self.group, self.version, self.kind, self.plural, self.namespaced, self.shortNames) = (
            group, version, kind, plural, namespaced, shortNames
        )
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var groupResource: String { group.isEmpty ? plural : "\(plural).\(group)" }

    public static let builtIn: [ResourceType] = [
        .init(group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, shortNames: ["ns"]),
        .init(group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true),
        .init(
            group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true,
            shortNames: ["sa"]),
        .init(group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, shortNames: ["svc"]),
        .init(group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, shortNames: ["cm"]),
        .init(
            group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true,
            shortNames: ["quota"]),
        .init(
            group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true,
            shortNames: ["deploy"]),
        .init(
            group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies",
            namespaced: true, shortNames: ["netpol"]),
        .init(
            group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles",
            namespaced: false),
        .init(
            group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding",
            plural: "clusterrolebindings", namespaced: false),
        .init(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true),
        .init(
            group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings",
            namespaced: true),
        .init(
            group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions", namespaced: false, shortNames: ["crd", "crds"]),
        .init(
            group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview",
            plural: "selfsubjectaccessreviews", namespaced: false),
    ]
}

public struct KubernetesStore: Sendable {
    struct Key: Hashable {
        var plural: String
        var group: String
        var namespace: String
        var name: String
    }
    struct Stored: Sendable {
        var type: ResourceType
        var object: JSONValue
        /// Field paths each manager owns, and how it set them (`Apply` or `Update`).
        var owners: [String: (operation: String, paths: Set<String>)]
        /// What the object's rendering shares with other stores', from the body that applied it.
        var shared: SharedRendering?
    }

    public private(set) var types: [ResourceType] = ResourceType.builtIn
    private(set) var objects: [Key: Stored] = [:]
    public private(set) var resourceVersion = 1
    let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    // MARK: Types

    public func type(apiVersion: String, kind: String) -> ResourceType? {
        types.first { $0.apiVersion == apiVersion && $0.kind == kind }
    }

    public func type(group: String, version: String, plural: String) -> ResourceType? {
        types.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    // MARK: Reads

    public func get(_ type: ResourceType, namespace: String?, name: String) throws(KubernetesError) -> JSONValue {
        guard let stored = objects[key(type, namespace, name)] else { throw .notFound(type, name) }
        return render(stored)
    }

    /// Encodings an answer holding this object may reuse (`JSONValue.encoded(reusing:)`).
    func encodings(_ type: ResourceType, namespace: String?, name: String) -> [EncodedJSON] {
        objects[key(type, namespace, name)]?.shared?.encodings ?? []
    }

    public func list(_ type: ResourceType, namespace: String?) -> JSONValue {
        let items = objects.filter { k, v in
            v.type.plural == type.plural && v.type.group == type.group && (namespace == nil || k.namespace == namespace)
        }.sorted { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }.map { render($0.value) }
        return .object([
            "kind": .string("\(type.kind)List"), "apiVersion": .string(type.apiVersion),
            "metadata": .object(["resourceVersion": .string(String(resourceVersion))]), "items": .array(items),
        ])
    }

    public var count: Int { objects.count }

    /// The stored objects of a type, as `list` orders them, without `managedFields`: what the simulated controllers
    /// read many times a second across a fleet, where rendering each object's field ownership was a tenth of the
    /// lab's CPU.
    func storedObjects(_ type: ResourceType) -> [JSONValue] {
        // Matched by key and only the matches' objects copied: no dictionary of whole entries built on the way.
        objects.compactMap { key, stored in
            key.plural == type.plural && key.group == type.group ? (key, stored.object) : nil
        }
        .sorted { ($0.0.namespace, $0.0.name) < ($1.0.namespace, $1.0.name) }.map(\.1)
    }

    /// One stored object without `managedFields`; nil when there is none.
    func storedObject(_ type: ResourceType, namespace: String?, name: String) -> JSONValue? {
        objects[key(type, namespace, name)]?.object
    }

    // MARK: Writes

    /// POST: the object must not exist; `manager` owns every field it set.
    public mutating func create(_ body: JSONValue, type: ResourceType, namespace: String?, manager: String)
        throws(KubernetesError) -> JSONValue
    {
        let converted = Self.converted(body, type: type)
        let (ns, name) = try identify(converted, type: type, namespace: namespace)
        let body = try admit(converted, type: type, name: name)
        let k = key(type, ns, name)
        guard objects[k] == nil else {
            throw KubernetesError(
                code: 409, reason: "AlreadyExists", message: "\(type.groupResource) \"\(name)\" already exists")
        }
        var object = body
        initializeMetadata(&object, type: type, namespace: ns)
        var stored = Stored(
            type: type, object: object, owners: [manager: ("Update", Self.paths(of: body))], shared: nil)
        finishWrite(&stored, previous: nil)
        objects[k] = stored
        return render(stored)
    }

    /// PUT: replaces the object; a stale `metadata.resourceVersion` is a 409 Conflict.
    public mutating func update(_ body: JSONValue, type: ResourceType, namespace: String?, manager: String)
        throws(KubernetesError) -> JSONValue
    {
        let converted = Self.converted(body, type: type)
        let (ns, name) = try identify(converted, type: type, namespace: namespace)
        let body = try admit(converted, type: type, name: name)
        let k = key(type, ns, name)
        guard var stored = objects[k] else { throw .notFound(type, name) }
        if let sent = body[path: "metadata.resourceVersion"]?.string,
            sent != stored.object[path: "metadata.resourceVersion"]?.string
        {
            throw KubernetesError(
                code: 409, reason: "Conflict",
                message:
                    """
                    Operation cannot be fulfilled on \(type.groupResource) \"\(name)\": the object has been \
                    modified; please apply your changes to the latest version and try again
                    """
            )
        }
        let previous = stored.object
        var object = body
        for field in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
            object["metadata"]?[field] = previous[path: "metadata.\(field)"]
        }
        let changed = Self.paths(of: body).filter { Self.value(at: $0, in: body) != Self.value(at: $0, in: previous) }
        for m in stored.owners.keys { stored.owners[m]?.paths.subtract(changed) }
        stored.owners[manager, default: ("Update", [])].paths.formUnion(changed)
        stored.object = object
        finishWrite(&stored, previous: previous)
        objects[k] = stored
        return render(stored)
    }

    /// Server-side apply (`PATCH` with `application/apply-patch+yaml`): merges the manager's intent, removes fields
    /// it set before and no longer sets, refuses to take fields another manager owns with another value unless
    /// `force`. Re-applying the same intent changes nothing, not even the resourceVersion.
    /// `intent`: `paths(of: body)`, when the caller has it already.
    public mutating func apply(
        _ body: JSONValue, intent: Set<String>? = nil, type: ResourceType, namespace: String?, name: String,
        manager: String, force: Bool
    ) throws(KubernetesError) -> (object: JSONValue, created: Bool) {
        try apply(
            body, intent: intent, shared: nil, type: type, namespace: namespace, name: name, manager: manager,
            force: force)
    }

    /// `apply`, with the rendering parts the body shares with other stores (`ParsedBodies`).
    mutating func apply(
        _ body: JSONValue, intent: Set<String>?, shared: SharedRendering?, type: ResourceType, namespace: String?,
        name: String, manager: String,
        force: Bool
    ) throws(KubernetesError) -> (object: JSONValue, created: Bool) {
        guard !manager.isEmpty else { throw .badRequest("PATCH with apply-patch requires fieldManager") }
        let schema = schema(for: type)
        // A body the API server rewrites (pruned to a schema, a Secret's stringData) has the field paths of the
        // rewrite, not those the caller worked out; any other keeps them (no deep comparison of large bodies).
        let rewritten = schema != nil || (type.group.isEmpty && type.kind == "Secret")
        let converted = Self.converted(body, type: type)
        let body = schema.map { $0.prune(converted) } ?? converted
        let given = rewritten ? nil : intent
        let (ns, bodyName) = try identify(body, type: type, namespace: namespace)
        guard bodyName == name else {
            throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        let intent = given ?? Self.paths(of: body)
        let k = key(type, ns, name)
        guard var stored = objects[k] else {
            try Self.check(body, against: schema, type: type, name: name)
            var object = body
            initializeMetadata(&object, type: type, namespace: ns)
            var created = Stored(type: type, object: object, owners: [manager: ("Apply", intent)], shared: shared)
            finishWrite(&created, previous: nil)
            objects[k] = created
            return (render(created), true)
        }
        let previous = stored.object
        var conflicts: [(String, String)] = []
        for (other, owned) in stored.owners where other != manager {
            for path in owned.paths.intersection(intent)
            where Self.value(at: path, in: body) != Self.value(at: path, in: previous) {
                conflicts.append((other, path))
            }
        }
        if !conflicts.isEmpty {
            guard force else {
                let list = conflicts.sorted { $0.1 < $1.1 }.map { "conflict with \"\($0.0)\": \(Self.display($0.1))" }
                throw KubernetesError(
                    code: 409, reason: "Conflict",
                    message:
                        """
                        Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): \
                        \(list.joined(separator: "\n"))
                        """
                )
            }
            for (other, path) in conflicts { stored.owners[other]?.paths.remove(path) }
        }
        var object = previous
        // Fields this manager set before and sets no more go, unless someone else owns them too.
        let dropped = (stored.owners[manager]?.paths ?? []).subtracting(intent).filter { path in
            !stored.owners.contains { $0.key != manager && $0.value.paths.contains(path) }
        }
        for path in Self.removalOrder(dropped) { Self.remove(path, from: &object) }
        object = Self.merge(object, body)
        try Self.check(object, against: schema, type: type, name: name)
        stored.owners[manager] = ("Apply", intent)
        if let shared { stored.shared = shared }
        if object != previous {
            stored.object = object
            finishWrite(&stored, previous: previous)
        }
        objects[k] = stored
        return (render(stored), false)
    }

    public mutating func delete(_ type: ResourceType, namespace: String?, name: String) throws(KubernetesError)
        -> JSONValue
    {
        let k = key(type, namespace, name)
        guard let stored = objects.removeValue(forKey: k) else { throw .notFound(type, name) }
        resourceVersion += 1
        if type.kind == "Namespace" {
            objects = objects.filter { $0.key.namespace != name }
        }
        if type.kind == "CustomResourceDefinition" { types = ResourceType.builtIn + definedTypes() }
        return render(stored)
    }

    /// Lets a simulated controller write `status` (and nothing else) without taking ownership of spec fields.
    public mutating func setStatus(_ type: ResourceType, namespace: String?, name: String, _ status: JSONValue)
        throws(KubernetesError)
    {
        let k = key(type, namespace, name)
        guard var stored = objects[k] else { throw .notFound(type, name) }
        guard stored.object["status"] != status else { return }
        stored.object["status"] = status
        resourceVersion += 1
        stored.object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        objects[k] = stored
    }

    // MARK: Internals

    private func key(_ type: ResourceType, _ namespace: String?, _ name: String) -> Key {
        Key(
            plural: type.plural, group: type.group, namespace: type.namespaced ? (namespace ?? "default") : "",
            name: name)
    }

    /// `[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?`, checked by hand: a regex literal is parsed again on every
    /// evaluation, and this runs on every write (measured: 4% of the lab's CPU in the fleet benchmark).
    static func isSubdomain(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...253).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    private func identify(_ body: JSONValue, type: ResourceType, namespace: String?) throws(KubernetesError) -> (
        String?, String
    ) {
        guard body.object != nil else { throw .badRequest("the body is not a JSON or YAML object") }
        guard body["kind"]?.string == type.kind, body["apiVersion"]?.string == type.apiVersion else {
            throw .badRequest(
                """
                the body's kind and apiVersion (\(body["kind"]?.string ?? "?") \(body["apiVersion"]?.string ?? "?")) \
                do not match the URL (\(type.kind) \(type.apiVersion))
                """
            )
        }
        guard let name = body[path: "metadata.name"]?.string, !name.isEmpty else {
            throw .invalid(
                "\(type.kind).\(type.apiVersion) is invalid: metadata.name: Required value: name is required")
        }
        guard Self.isSubdomain(name) else {
            throw .invalid(
                """
                \(type.kind) \"\(name)\" is invalid: metadata.name: Invalid value: \"\(name)\": a lowercase RFC 1123 \
                subdomain must consist of lower case alphanumeric characters, '-' or '.'
                """
            )
        }
        guard type.namespaced else { return (nil, name) }
        let ns = body[path: "metadata.namespace"]?.string ?? namespace ?? "default"
        if let namespace, ns != namespace {
            throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        guard objects[Key(plural: "namespaces", group: "", namespace: "", name: ns)] != nil else {
            throw KubernetesError(code: 404, reason: "NotFound", message: "namespaces \"\(ns)\" not found")
        }
        return (ns, name)
    }

    private func initializeMetadata(_ object: inout JSONValue, type: ResourceType, namespace: String?) {
        var metadata = object["metadata"]?.object ?? [:]
        metadata["uid"] = .string(UUID().uuidString.lowercased())
        metadata["creationTimestamp"] = .string(AWSTimestamp.iso8601(now()))
        if let namespace { metadata["namespace"] = .string(namespace) }
        metadata["managedFields"] = nil
        object["metadata"] = .object(metadata)
    }

    /// Bumps resourceVersion; generation follows changes outside metadata and status; CRDs register their types.
    private mutating func finishWrite(_ stored: inout Stored, previous: JSONValue?) {
        resourceVersion += 1
        stored.object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        let generation = Int(
            previous?[path: "metadata.generation"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 0)
        func specOf(_ o: JSONValue?) -> JSONValue? {
            guard case .object(var d) = o else { return nil }
            d["metadata"] = nil
            d["status"] = nil
            return .object(d)
        }
        let changed = previous == nil || specOf(previous) != specOf(stored.object)
        stored.object["metadata"]?["generation"] = .number(Double(changed ? generation + 1 : max(generation, 1)))
        if stored.type.kind == "CustomResourceDefinition" {
            stored.object["status"] = .object([
                "conditions": .array([
                    .object([
                        "type": .string("NamesAccepted"), "status": .string("True"), "reason": .string("NoConflicts"),
                    ]),
                    .object([
                        "type": .string("Established"), "status": .string("True"),
                        "reason": .string("InitialNamesAccepted"),
                    ]),
                ]),
                "acceptedNames": stored.object[path: "spec.names"] ?? .object([:]),
            ])
        }
        if stored.type.kind == "CustomResourceDefinition" {
            objectsWillChange(stored)
        }
    }

    /// The types a CRD defines replace those it defined before; the others stay (read from `types`, which holds
    /// them after the built-in ones: looking through every object for CRDs on each write was 2% of the lab's CPU).
    private mutating func objectsWillChange(_ crd: Stored) {
        let group = crd.object[path: "spec.group"]?.string
        let plural = crd.object[path: "spec.names.plural"]?.string
        var others = types.dropFirst(ResourceType.builtIn.count).filter { !($0.group == group && $0.plural == plural) }
        others += Self.types(definedBy: crd.object)
        types = ResourceType.builtIn + others
    }

    private func definedTypes() -> [ResourceType] {
        objects.values.filter { $0.type.kind == "CustomResourceDefinition" }.flatMap {
            Self.types(definedBy: $0.object)
        }
    }

    static func types(definedBy crd: JSONValue) -> [ResourceType] {
        guard let group = crd[path: "spec.group"]?.string, let kind = crd[path: "spec.names.kind"]?.string,
            let plural = crd[path: "spec.names.plural"]?.string
        else { return [] }
        let namespaced = crd[path: "spec.scope"]?.string != "Cluster"
        return (crd[path: "spec.versions"]?.array ?? []).compactMap { v in
            guard let name = v["name"]?.string, v["served"] != .bool(false) else { return nil }
            return ResourceType(
                group: group, version: name, kind: kind, plural: plural, namespaced: namespaced,
                shortNames: crd[path: "spec.names.shortNames"]?.array?.compactMap(\.string) ?? [])
        }
    }

    /// The object with `metadata.managedFields` as Kubernetes renders them (FieldsV1).
    private func render(_ stored: Stored) -> JSONValue {
        var object = stored.object
        let entries: [JSONValue] = stored.owners.sorted { $0.key < $1.key }.filter { !$0.value.paths.isEmpty }.map {
            manager, owned in
            .object([
                "manager": .string(manager), "operation": .string(owned.operation),
                "apiVersion": .string(stored.type.apiVersion),
                "time": object[path: "metadata.creationTimestamp"] ?? .null, "fieldsType": .string("FieldsV1"),
                "fieldsV1": stored.shared.flatMap { $0.paths == owned.paths ? $0.fieldsV1 : nil }
                    ?? Self.fieldsV1(owned.paths),
            ])
        }
        object["metadata"]?["managedFields"] = .array(entries)
        return object
    }
}
