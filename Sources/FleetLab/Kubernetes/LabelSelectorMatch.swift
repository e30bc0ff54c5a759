// `labelSelector` on list requests, as the API server reads it: equality (`a=b`, `a==b`, `a!=b`), sets
// (`a in (x,y)`, `a notin (x,y)`) and existence (`a`, `!a`), every requirement to hold.
import FleetSupport

struct LabelSelectorMatch: Sendable {
    enum Requirement: Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case absent(String)
    }

    let requirements: [Requirement]

    /// Nil when `text` is not a selector the API server would parse.
    init?(_ text: String) {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == ",", depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        var requirements: [Requirement] = []
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            if let requirement = Self.requirement(part) { requirements.append(requirement) } else { return nil }
        }
        self.requirements = requirements
    }

    private static func requirement(_ part: String) -> Requirement? {
        for (operator_, make) in [
            ("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals),
        ] as [(String, (String, String) -> Requirement)] {
            if let range = part.range(of: operator_) {
                let key = part[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let value = part[range.upperBound...].trimmingCharacters(in: .whitespaces)
                guard !key.isEmpty, !value.contains("=") else { return nil }
                return make(key, value)
            }
        }
        for (word, isIn) in [(" notin ", false), (" in ", true)] {
            if let range = part.range(of: word) {
                let key = part[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let list = part[range.upperBound...].trimmingCharacters(in: .whitespaces)
                guard !key.isEmpty, list.hasPrefix("("), list.hasSuffix(")") else { return nil }
                let values = Set(
                    list.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                return isIn ? .isIn(key, values) : .notIn(key, values)
            }
        }
        if part.hasPrefix("!") {
            let key = part.dropFirst().trimmingCharacters(in: .whitespaces)
            return key.isEmpty || key.contains(" ") ? nil : .absent(key)
        }
        return part.contains(" ") || part.contains("(") ? nil : .exists(part)
    }

    func matches(_ labels: [String: JSONValue]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key]?.string == value
            case .notEquals(let key, let value): labels[key]?.string != value
            case .isIn(let key, let values): labels[key]?.string.map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key]?.string.map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .absent(let key): labels[key] == nil
            }
        }
    }
}
