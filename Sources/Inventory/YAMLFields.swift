// Reading Yams' node tree field by field, so that every problem is reported with its position and none stops
// the others from being found. Codable would stop at the first error and give no position.
import FleetSupport
import Yams

/// Collects the diagnostics of one validation, across all the files it reads.
final class DiagnosticCollector {
    private(set) var diagnostics: [Diagnostic] = []

    func error(_ rule: String, at location: SourceLocation, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, rule, at: location, message, hint: hint))
    }

    func warning(_ rule: String, at location: SourceLocation, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.warning, rule, at: location, message, hint: hint))
    }
}

/// Positions in one file.
struct SourceFile {
    let path: String
    let collector: DiagnosticCollector

    func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(file: path, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func error(_ rule: String, at mark: Mark?, _ message: String, hint: String? = nil) {
        collector.error(rule, at: location(mark), message, hint: hint)
    }
}

/// The keys of one YAML mapping, read by name; whatever is not read is reported as unknown.
struct YAMLFields {
    let node: Node
    let path: String
    let source: SourceFile
    private let entries: [(key: String, keyMark: Mark?, value: Node)]
    private let known: [String]

    /// Nil (with a diagnostic) when `node` is not a mapping.
    init?(_ node: Node, path: String, known: [String], source: SourceFile) {
        guard case .mapping(let mapping) = node else {
            source.error(
                "type", at: node.mark, "\(path) must be a mapping (key: value), found \(node.kindDescription)")
            return nil
        }
        self.node = node
        self.path = path
        self.known = known
        self.source = source
        var entries: [(String, Mark?, Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                source.error("type", at: key.mark, "\(path) has a key that is not a plain name")
                continue
            }
            entries.append((scalar.string, key.mark, value))
        }
        self.entries = entries
    }

    var mark: Mark? { node.mark }
    var location: SourceLocation { source.location(node.mark) }

    func has(_ key: String) -> Bool { value(key) != nil }

    func value(_ key: String) -> Node? {
        entries.first { $0.key == key }.map { entry in
            if case .scalar = entry.value, entry.value.null != nil {
                return nil
            }
            return entry.value
        } ?? nil
    }

    func keyMark(_ key: String) -> Mark? { entries.first { $0.key == key }?.keyMark }

    /// Reports keys that are not in `known`, with the closest known key as a suggestion.
    func reportUnknownKeys() {
        for entry in entries where !known.contains(entry.key) {
            let suggestion = Suggestion.closest(to: entry.key, in: known)
            source.error(
                "unknown-key", at: entry.keyMark,
                "unknown key '\(entry.key)' in \(path)"
                    + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                hint: "known keys here: \(known.joined(separator: ", "))")
        }
    }

    // MARK: Typed reads

    func string(_ key: String, required: Bool = false) -> Located<String>? {
        guard let node = value(key) else {
            if required { missing(key) }
            return nil
        }
        guard case .scalar(let scalar) = node else {
            source.error("type", at: node.mark, "\(path).\(key) must be a string, found \(node.kindDescription)")
            return nil
        }
        return Located(value: scalar.string, location: source.location(node.mark))
    }

    func int(_ key: String, in range: ClosedRange<Int>? = nil) -> Located<Int>? {
        guard let node = value(key) else { return nil }
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            source.error(
                "type", at: node.mark, "\(path).\(key) must be a whole number, found \(node.valueDescription)")
            return nil
        }
        if let range, !range.contains(value) {
            source.error(
                "range", at: node.mark,
                "\(path).\(key) must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return Located(value: value, location: source.location(node.mark))
    }

    func bool(_ key: String) -> Located<Bool>? {
        guard let node = value(key) else { return nil }
        guard case .scalar = node, let value = node.bool else {
            source.error("type", at: node.mark, "\(path).\(key) must be true or false, found \(node.valueDescription)")
            return nil
        }
        return Located(value: value, location: source.location(node.mark))
    }

    func strings(_ key: String) -> [Located<String>]? {
        guard let node = value(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            source.error("type", at: node.mark, "\(path).\(key) must be a list, found \(node.kindDescription)")
            return nil
        }
        var out: [Located<String>] = []
        for (i, item) in sequence.enumerated() {
            guard case .scalar(let scalar) = item else {
                source.error(
                    "type", at: item.mark, "\(path).\(key)[\(i)] must be a string, found \(item.kindDescription)")
                continue
            }
            out.append(Located(value: scalar.string, location: source.location(item.mark)))
        }
        return out
    }

    func stringMap(_ key: String) -> [String: Located<String>]? {
        guard let node = value(key) else { return nil }
        guard case .mapping(let mapping) = node else {
            source.error("type", at: node.mark, "\(path).\(key) must be a mapping, found \(node.kindDescription)")
            return nil
        }
        var out: [String: Located<String>] = [:]
        for (k, v) in mapping {
            guard case .scalar(let ks) = k, case .scalar(let vs) = v else {
                source.error("type", at: k.mark, "\(path).\(key) must map names to strings")
                continue
            }
            out[ks.string] = Located(value: vs.string, location: source.location(v.mark))
        }
        return out
    }

    func sequence(_ key: String) -> [Node]? {
        guard let node = value(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            source.error("type", at: node.mark, "\(path).\(key) must be a list, found \(node.kindDescription)")
            return nil
        }
        return Array(sequence)
    }

    func fields(_ key: String, known: [String]) -> YAMLFields? {
        guard let node = value(key) else { return nil }
        return YAMLFields(node, path: "\(path).\(key)", known: known, source: source)
    }

    func missing(_ key: String) {
        source.error("required", at: node.mark, "\(path) is missing required key '\(key)'")
    }
}

/// A value read from the inventory, with where it was written.
struct Located<Value> {
    var value: Value
    var location: SourceLocation
}

extension Node {
    var kindDescription: String {
        switch self {
        case .scalar(let s): s.string.isEmpty ? "an empty value" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The value for an error message: scalars quoted (shortened), collections by kind.
    var valueDescription: String {
        guard case .scalar(let s) = self else { return kindDescription }
        let text = s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string
        return "'\(text)'"
    }
}
