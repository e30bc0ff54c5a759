// A CRD version's openAPIV3Schema as the API server applies it to custom resources: fields the schema does not know
// are pruned (unless `x-kubernetes-preserve-unknown-fields`), then types, enums, required fields, patterns, lengths,
// bounds and int-or-string are checked, each failure worded as the API server words it.
import FleetSupport
import Foundation

struct StructuralSchema: Sendable {
    let root: JSONValue

    /// `object` without the fields its schema does not declare; `apiVersion`, `kind` and `metadata` are the API
    /// server's and stay.
    func prune(_ object: JSONValue) -> JSONValue {
        guard case .object(var fields) = object else { return object }
        for (key, value) in fields where !["apiVersion", "kind", "metadata"].contains(key) {
            if let schema = root["properties"]?[key] {
                fields[key] = Self.prune(value, schema)
            } else if root["x-kubernetes-preserve-unknown-fields"] != .bool(true) {
                fields[key] = nil
            }
        }
        return .object(fields)
    }

    private static func prune(_ value: JSONValue, _ schema: JSONValue) -> JSONValue {
        if schema["x-kubernetes-preserve-unknown-fields"] == .bool(true) && schema["properties"] == nil {
            return value
        }
        switch value {
        case .object(var fields):
            if let properties = schema["properties"]?.object {
                for (key, child) in fields {
                    if let inner = properties[key] {
                        fields[key] = prune(child, inner)
                    } else if schema["x-kubernetes-preserve-unknown-fields"] != .bool(true) {
                        fields[key] = nil
                    }
                }
            } else if let additional = schema["additionalProperties"], additional.object != nil {
                for (key, child) in fields { fields[key] = prune(child, additional) }
            }
            return .object(fields)
        case .array(let items):
            guard let itemSchema = schema["items"] else { return value }
            return .array(items.map { prune($0, itemSchema) })
        default:
            return value
        }
    }

    /// What is wrong with `object` (already pruned), as `field: what` lines; empty when it is valid.
    func problems(_ object: JSONValue) -> [String] {
        var found: [String] = []
        guard case .object(let fields) = object else { return ["must be an object"] }
        for key in root["required"]?.array?.compactMap(\.string) ?? [] where fields[key] == nil {
            found.append("\(key): Required value")
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key })
        where !["apiVersion", "kind", "metadata"].contains(key) {
            if let schema = root["properties"]?[key] { Self.check(value, schema, at: key, into: &found) }
        }
        return found
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, at path: String, into found: inout [String]) {
        if value == .null {
            if schema["nullable"] != .bool(true) { found.append(typeProblem(path, "null", schema)) }
            return
        }
        if schema["x-kubernetes-int-or-string"] == .bool(true) {
            guard value.string != nil || isInteger(value) else {
                found.append("\(path): Invalid value: \(shown(value)): \(path) in body must be of type integer,string")
                return
            }
        } else if let type = schema["type"]?.string, !has(value, type: type) {
            found.append(typeProblem(path, kind(of: value), schema))
            return
        }
        if let allowed = schema["enum"]?.array, !allowed.contains(value) {
            let list = allowed.map(shown).joined(separator: ", ")
            found.append("\(path): Unsupported value: \(shown(value)): supported values: \(list)")
        }
        switch value {
        case .string(let text):
            if let pattern = schema["pattern"]?.string, !matches(text, pattern) {
                found.append("\(path): Invalid value: \(shown(value)): \(path) in body should match '\(pattern)'")
            }
            if let most = Self.number(schema["maxLength"]), Double(text.count) > most {
                found.append("\(path): Too long: may not be more than \(Int(most)) bytes")
            }
            if let least = Self.number(schema["minLength"]), Double(text.count) < least {
                found.append(invalid(path, value, "should be at least \(Int(least)) chars long"))
            }
        case .number(let number):
            if let most = Self.number(schema["maximum"]), number > most {
                found.append(invalid(path, value, "should be less than or equal to \(shown(.number(most)))"))
            }
            if let least = Self.number(schema["minimum"]), number < least {
                found.append(invalid(path, value, "should be greater than or equal to \(shown(.number(least)))"))
            }
        case .object(let fields):
            for key in schema["required"]?.array?.compactMap(\.string) ?? [] where fields[key] == nil {
                found.append("\(path).\(key): Required value")
            }
            let properties = schema["properties"]?.object
            for (key, child) in fields.sorted(by: { $0.key < $1.key }) {
                if let inner = properties?[key]
                    ?? schema["additionalProperties"].flatMap({ $0.object != nil ? $0 : nil })
                {
                    check(child, inner, at: "\(path).\(key)", into: &found)
                }
            }
        case .array(let items):
            if let most = Self.number(schema["maxItems"]), Double(items.count) > most {
                found.append("\(path): Too many: \(items.count): must have at most \(Int(most)) items")
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    check(item, itemSchema, at: "\(path)[\(index)]", into: &found)
                }
            }
        default:
            break
        }
    }

    /// `spec.x: Invalid value: 5: spec.x in body should …`, as the API server words a broken bound.
    private static func invalid(_ path: String, _ value: JSONValue, _ rule: String) -> String {
        "\(path): Invalid value: \(shown(value)): \(path) in body \(rule)"
    }

    private static func number(_ value: JSONValue?) -> Double? {
        if case .number(let number)? = value { return number }
        return nil
    }

    private static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("number", .number):
            true
        case ("integer", _): isInteger(value)
        default: false
        }
    }

    private static func isInteger(_ value: JSONValue) -> Bool {
        if case .number(let number) = value { return number.rounded() == number }
        return false
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .bool: "boolean"
        case .number: isInteger(value) ? "integer" : "number"
        case .null: "null"
        }
    }

    private static func typeProblem(_ path: String, _ found: String, _ schema: JSONValue) -> String {
        let wanted = schema["type"]?.string ?? "integer,string"
        return "\(path): Invalid value: \"\(found)\": \(path) in body must be of type \(wanted): \"\(found)\""
    }

    /// A value as the API server quotes it in messages: strings in double quotes, numbers plainly.
    private static func shown(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): "\"\(text)\""
        case .number(let number): number.rounded() == number ? String(Int(number)) : String(number)
        case .bool(let flag): String(flag)
        default: "\(value)"
        }
    }

    private static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return true }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
