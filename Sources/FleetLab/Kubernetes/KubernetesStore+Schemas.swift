// Custom resources admitted as the API server admits them: pruned to their CRD's schema, then validated against it,
// a 422 Invalid naming every problem when they break it.
import FleetSupport

extension KubernetesStore {
    /// The schema the CRD defining `type` gives its version; nil for built-in types and CRDs without one.
    func schema(for type: ResourceType) -> StructuralSchema? {
        guard !ResourceType.builtIn.contains(where: { $0.group == type.group && $0.plural == type.plural }) else {
            return nil
        }
        let crd = Key(
            plural: "customresourcedefinitions", group: "apiextensions.k8s.io", namespace: "",
            name: "\(type.plural).\(type.group)")
        guard let versions = objects[crd]?.object[path: "spec.versions"]?.array,
            let version = versions.first(where: { $0["name"]?.string == type.version }),
            let schema = version[path: "schema.openAPIV3Schema"], schema.object != nil
        else { return nil }
        return StructuralSchema(root: schema)
    }

    /// `body` pruned to its schema and checked against it (unchanged for a type without one).
    func admit(_ body: JSONValue, type: ResourceType, name: String) throws(KubernetesError) -> JSONValue {
        guard let schema = schema(for: type) else { return body }
        let pruned = schema.prune(body)
        try Self.check(pruned, against: schema, type: type, name: name)
        return pruned
    }

    /// Throws 422 Invalid, worded as the API server words it, when `object` breaks `schema`.
    static func check(_ object: JSONValue, against schema: StructuralSchema?, type: ResourceType, name: String)
        throws(KubernetesError)
    {
        guard let problems = schema?.problems(object), !problems.isEmpty else { return }
        let listed = problems.count == 1 ? problems[0] : "[" + problems.joined(separator: ", ") + "]"
        throw .invalid("\(type.kind).\(type.group) \"\(name)\" is invalid: \(listed)")
    }
}
