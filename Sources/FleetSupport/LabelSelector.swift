// Kubernetes label selectors (`env=prod,tier!=edge`, `region in (eu,us)`, `!canary`) over cluster labels.

public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)

        func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .isIn(let k, let vs): labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): !(labels[k].map(vs.contains) ?? false)
            case .exists(let k): labels[k] != nil
            case .doesNotExist(let k): labels[k] == nil
            }
        }
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let selector: String
        public let reason: String
        public var description: String { "invalid selector '\(selector)': \(reason)" }
    }

    public let requirements: [Requirement]
    public let description: String

    /// Parses the selector syntax of `kubectl get -l`. An empty selector matches everything.
    public init(_ text: String) throws(ParseError) {
        description = text
        var requirements: [Requirement] = []
        for clause in Self.splitClauses(text) {
            let c = clause.trimmingCharacters(in: " ")
            guard !c.isEmpty else { throw ParseError(selector: text, reason: "empty requirement") }
            requirements.append(try Self.requirement(c, in: text))
        }
        self.requirements = requirements
    }

    public func matches(_ labels: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(labels) } }

    /// Splits at commas outside parentheses.
    private static func splitClauses(_ text: String) -> [String] {
        guard !text.trimmingCharacters(in: " ").isEmpty else { return [] }
        var clauses: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            switch ch {
            case "(":
                depth += 1
                current.append(ch)
            case ")":
                depth -= 1
                current.append(ch)
            case "," where depth == 0:
                clauses.append(current)
                current = ""
            default: current.append(ch)
            }
        }
        clauses.append(current)
        return clauses
    }

    private static func requirement(_ c: String, in text: String) throws(ParseError) -> Requirement {
        func key(_ k: Substring) throws(ParseError) -> String {
            let k = String(k).trimmingCharacters(in: " ")
            guard KubernetesNames.isLabelKey(k) else {
                throw ParseError(selector: text, reason: "'\(k)' is not a label key")
            }
            return k
        }
        func value(_ v: Substring) throws(ParseError) -> String {
            let v = String(v).trimmingCharacters(in: " ")
            guard KubernetesNames.isLabelValue(v) else {
                throw ParseError(selector: text, reason: "'\(v)' is not a label value")
            }
            return v
        }
        if c.hasPrefix("!") { return .doesNotExist(try key(c.dropFirst())) }
        if let r = c.range(of: "!=") { return .notEquals(try key(c[..<r.lowerBound]), try value(c[r.upperBound...])) }
        if let r = c.range(of: "==") { return .equals(try key(c[..<r.lowerBound]), try value(c[r.upperBound...])) }
        if let r = c.range(of: "=") { return .equals(try key(c[..<r.lowerBound]), try value(c[r.upperBound...])) }
        if let m = c.wholeMatch(of: /(\S+)\s+(in|notin)\s*\((.*)\)/) {
            var values = Set<String>()
            for v in m.3.split(separator: ",") { values.insert(try value(v)) }
            guard !values.isEmpty else { throw ParseError(selector: text, reason: "'\(m.2)' needs at least one value") }
            let k = try key(m.1)
            return m.2 == "in" ? .isIn(k, values) : .notIn(k, values)
        }
        return .exists(try key(Substring(c)))
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
