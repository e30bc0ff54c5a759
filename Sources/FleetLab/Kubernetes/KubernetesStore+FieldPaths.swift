// Field paths: how server-side apply names, compares, removes and merges the fields a manager sets, and how
// managedFields (FieldsV1) spell them.
import FleetSupport

extension KubernetesStore {
    /// Path separator inside field paths: keys such as label names hold dots themselves.
    static let separator: Character = "\u{1F}"

    /// Leaf paths of the fields an object sets; lists count as one field. Server-set metadata is not anyone's.
    static func paths(of object: JSONValue, prefix: String = "") -> Set<String> {
        guard case .object(let o) = object else { return prefix.isEmpty ? [] : [prefix] }
        var out = Set<String>()
        for (key, value) in o {
            let path = prefix.isEmpty ? key : "\(prefix)\(separator)\(key)"
            if prefix == "metadata",
                ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "name", "namespace"]
                    .contains(key)
            {
                continue
            }
            if prefix.isEmpty, key == "status" || key == "apiVersion" || key == "kind" { continue }
            if case .object(let child) = value, !child.isEmpty {
                out.formUnion(paths(of: value, prefix: path))
            } else {
                out.insert(path)
            }
        }
        return out
    }

    static func value(at path: String, in object: JSONValue) -> JSONValue? {
        path.split(separator: separator).reduce(Optional(object)) { $0?[String($1)] }
    }

    /// `.spec.replicas`, as conflicts name fields.
    static func display(_ path: String) -> String {
        "." + path.split(separator: separator).joined(separator: ".")
    }

    static func remove(_ path: String, from object: inout JSONValue) {
        var parts = path.split(separator: separator).map(String.init)
        guard let last = parts.popLast() else { return }
        func strip(_ value: inout JSONValue, _ index: Int) {
            guard case .object(var o) = value else { return }
            if index == parts.count {
                o[last] = nil
            } else if var child = o[parts[index]] {
                strip(&child, index + 1)
                o[parts[index]] = child
            }
            value = .object(o)
        }
        strip(&object, 0)
    }

    /// Maps merge key by key; anything else is replaced.
    static func merge(_ base: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(var b) = base, case .object(let p) = patch else { return patch }
        for (key, value) in p { b[key] = b[key].map { merge($0, value) } ?? value }
        return .object(b)
    }

    static func fieldsV1(_ paths: Set<String>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        for path in paths.sorted() {
            var node = JSONValue.object(root)
            insert(path.split(separator: separator).map { "f:\($0)" }, into: &node)
            root = node.object ?? [:]
        }
        return .object(root)
    }

    private static func insert(_ parts: [String], into node: inout JSONValue) {
        guard let first = parts.first, case .object(var o) = node else { return }
        var child = o[first] ?? .object([:])
        insert(Array(parts.dropFirst()), into: &child)
        o[first] = child
        node = .object(o)
    }
}
