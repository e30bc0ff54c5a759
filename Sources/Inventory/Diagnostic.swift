// Problems found in an inventory, each pinned to file:line:column.

/// A position in an inventory file. Lines and columns start at 1, columns count Unicode scalars (as libyaml does).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }
}

/// One problem: where, how bad, which rule, what is wrong and what to do.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error, warning
    }

    public let location: SourceLocation
    public let severity: Severity
    /// The rule that fired, stable across releases (for `--output json` and tests), e.g. `unknown-key`.
    public let rule: String
    public let message: String
    public let hint: String?

    public init(
        _ severity: Severity, _ rule: String, at location: SourceLocation, _ message: String, hint: String? = nil
    ) {
        self.location = location
        self.severity = severity
        self.rule = rule
        self.message = Self.bounded(message)
        self.hint = hint.map(Self.bounded)
    }

    /// Longest message kept whole: messages quote what they found, and a broken file can hold a megabyte on one line.
    public static let maximumMessageLength = 400

    static func bounded(_ text: String) -> String {
        guard text.unicodeScalars.count > maximumMessageLength else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(maximumMessageLength)))
            + "… (\(text.unicodeScalars.count) characters in all)"
    }

    /// `file:line:column: error: message`, then the hint indented on its own line, as compilers print.
    public var description: String {
        var text = "\(location): \(severity.rawValue): \(message)"
        if let hint { text += "\n    hint: \(hint)" }
        return text
    }
}

/// Raised when an inventory has errors; holds every diagnostic found in the one pass.
public struct InventoryError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    /// More diagnostics than this are counted, not printed: a broken generated file can hold thousands.
    public static let printLimit = 200

    public var description: String {
        let count = errors.count
        var lines = diagnostics.prefix(Self.printLimit).map(\.description)
        if diagnostics.count > Self.printLimit { lines.append("… and \(diagnostics.count - Self.printLimit) more") }
        return lines.joined(separator: "\n") + "\n\(count) error\(count == 1 ? "" : "s")"
    }
}
