// Field paths: how server-side apply names, compares, removes and merges the fields a manager sets, and how
// managedFields (FieldsV1) spell them. Lists are atomic (one field) except the keyed ones of the built-in types
// (`x-kubernetes-list-type: map` keyed by name: containers, env, volumes…), which merge element by element, each
// element a path segment `k:{"name":"…"}` as FieldsV1 writes it.
import FleetSupport
import Foundation

extension KubernetesStore {
    /// Path separator inside field paths: keys such as label names hold dots themselves.
    static let separator: Character = "\u{1F}"

    /// Fields whose lists are maps keyed by `name` in the built-in types' schemas.
    static let keyedByName: Set<String> = [
        "containers", "initContainers", "ephemeralContainers", "env", "volumes", "imagePullSecrets",
    ]

    /// The element segment of a keyed list, as FieldsV1 spells it: `k:{"name":"manager"}`.
    static func elementSegment(_ name: String) -> String {
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "k:{\"name\":\"\(escaped)\"}"
    }

    /// The element name of a `k:{"name":…}` segment.
    static func elementName(_ segment: Substring) -> String? {
        guard segment.hasPrefix("k:{\"name\":"), segment.hasSuffix("}") else { return nil }
        let quoted = segment.dropFirst("k:{\"name\":".count).dropLast()
        return try? JSONDecoder().decode(String.self, from: Data(quoted.utf8))
    }

    /// The elements of a keyed list by name, or nil when `value` is not a list of named objects.
    static func keyed(_ value: JSONValue?, field: String) -> [(name: String, element: JSONValue)]? {
        guard keyedByName.contains(field), case .array(let items)? = value else { return nil }
        var out: [(String, JSONValue)] = []
        for item in items {
            guard let name = item["name"]?.string else { return nil }
            out.append((name, item))
        }
        return out
    }

    /// Leaf paths of the fields an object sets; atomic lists count as one field, keyed lists one per element's
    /// field. Server-set metadata is not anyone's.
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
            if let elements = keyed(value, field: key) {
                // An empty keyed list sets no element: nothing of it is the manager's.
                for (name, element) in elements {
                    out.formUnion(paths(of: element, prefix: "\(path)\(separator)\(elementSegment(name))"))
                }
            } else if case .object(let child) = value, !child.isEmpty {
                out.formUnion(paths(of: value, prefix: path))
            } else {
                out.insert(path)
            }
        }
        return out
    }

    static func value(at path: String, in object: JSONValue) -> JSONValue? {
        path.split(separator: separator).reduce(Optional(object)) { node, segment in
            if let name = elementName(segment), case .array(let items)? = node {
                return items.first { $0["name"]?.string == name }
            }
            return node?[String(segment)]
        }
    }

    /// `.spec.template.spec.containers[name="manager"].image`, as conflicts name fields.
    static func display(_ path: String) -> String {
        path.split(separator: separator).map { segment in
            elementName(segment).map { "[name=\"\($0)\"]" } ?? ".\(segment)"
        }.joined()
    }

    /// `paths` in the order `remove` takes them: a keyed element's `name` after its other fields, since the element
    /// is found by it.
    static func removalOrder(_ paths: some Collection<String>) -> [String] {
        func isKey(_ path: String) -> Bool {
            let parts = path.split(separator: separator)
            return parts.count >= 2 && parts.last == "name" && elementName(parts[parts.count - 2]) != nil
        }
        return paths.sorted { (isKey($0) ? 1 : 0, $0) < (isKey($1) ? 1 : 0, $1) }
    }

    /// Removes the field at `path`; a keyed list's element left with no field goes too.
    static func remove(_ path: String, from object: inout JSONValue) {
        let parts = path.split(separator: separator)
        func strip(_ value: inout JSONValue, _ index: Int) {
            let segment = parts[index]
            let last = index == parts.count - 1
            if let name = elementName(segment), case .array(var items) = value {
                guard let at = items.firstIndex(where: { $0["name"]?.string == name }) else { return }
                if last {
                    items.remove(at: at)
                } else {
                    strip(&items[at], index + 1)
                    if items[at].object?.isEmpty == true { items.remove(at: at) }
                }
                value = .array(items)
                return
            }
            guard case .object(var o) = value else { return }
            let key = String(segment)
            if last {
                o[key] = nil
            } else if var child = o[key] {
                strip(&child, index + 1)
                o[key] = child
            }
            value = .object(o)
        }
        guard !parts.isEmpty else { return }
        strip(&object, 0)
    }

    /// Maps merge key by key, keyed lists element by element (new elements after the ones there); anything else is
    /// replaced.
    static func merge(_ base: JSONValue, _ patch: JSONValue, field: String = "") -> JSONValue {
        if let mine = keyed(patch, field: field), var theirs = keyed(base, field: field) {
            for (name, element) in mine {
                if let at = theirs.firstIndex(where: { $0.name == name }) {
                    theirs[at].element = merge(theirs[at].element, element)
                } else {
                    theirs.append((name, element))
                }
            }
            return .array(theirs.map(\.element))
        }
        guard case .object(var b) = base, case .object(let p) = patch else { return patch }
        for (key, value) in p { b[key] = b[key].map { merge($0, value, field: key) } ?? value }
        return .object(b)
    }

    static func fieldsV1(_ paths: Set<String>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        for path in paths.sorted() {
            var node = JSONValue.object(root)
            let segments = path.split(separator: separator).map { segment in
                elementName(segment) != nil ? String(segment) : "f:\(segment)"
            }
            insert(segments, into: &node)
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
