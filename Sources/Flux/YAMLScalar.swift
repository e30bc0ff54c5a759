// A string as a YAML value that every reader takes back as that same string: plain where go-yaml (Flux's
// generator, through sigs.k8s.io/yaml) writes it plain, so ordinary names stay byte for byte what flux writes;
// double-quoted where a YAML 1.1 or 1.2 resolver would read a plain scalar as something else (`true`, `yes`, `on`,
// `~`, `1.0`, `0x1F`, a date), as go-yaml quotes them; single-quoted where libyaml's emitter cannot write the
// characters plain (`#x`, `a: b`, a leading space); double-quoted with escapes where they are not printable.

public enum YAMLScalar {
    /// `text` as a block mapping's value.
    public static func value(_ text: String) -> String {
        if text.unicodeScalars.contains(where: { !isPrintable($0) }) || readsAsNonString(text) {
            return doubleQuoted(text)
        }
        if !plainAllowed(text) { return "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        return text
    }

    // MARK: - What a resolver would read as other than a string

    /// True when a plain `text` is a null, boolean, number, timestamp, merge key or value key to YAML 1.1 (PyYAML,
    /// go-yaml v2, libyaml-based readers) or to YAML 1.2's core schema (go-yaml v3, kustomize).
    static func readsAsNonString(_ text: String) -> Bool {
        if text.isEmpty || words.contains(text) { return true }
        let bytes = Array(text.utf8)
        return isNumber(bytes[...]) || isTimestamp(bytes)
    }

    private static let words: Set<String> = [
        "~", "null", "Null", "NULL", "<<", "=",
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ]

    /// Integers (decimal, 0b, 0o, 0x, octal, sexagesimal, with underscores) and floats (with or without a fraction,
    /// exponent, `.inf`, `.nan`), signed or not: a superset of both schemas' patterns.
    private static func isNumber(_ whole: ArraySlice<UInt8>) -> Bool {
        var s = whole
        if let first = s.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { s = s.dropFirst() }
        guard !s.isEmpty else { return false }
        let lowered = String(decoding: s, as: UTF8.self).lowercased()
        if lowered == ".inf" || lowered == ".nan" { return true }
        if s.count > 2, s.first == UInt8(ascii: "0") {
            let body = s.dropFirst(2)
            switch s[s.startIndex + 1] {
            case UInt8(ascii: "x"), UInt8(ascii: "X"):
                return body.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: "_") }
            case UInt8(ascii: "o"), UInt8(ascii: "O"), UInt8(ascii: "b"), UInt8(ascii: "B"):
                return body.allSatisfy { isDigit($0) || $0 == UInt8(ascii: "_") }
            default: break
            }
        }
        // Digits, underscores and colons (sexagesimal), then an optional fraction, then an optional exponent.
        var index = s.startIndex
        var digits = 0
        while index < s.endIndex, isDigit(s[index]) || s[index] == UInt8(ascii: "_") || s[index] == UInt8(ascii: ":") {
            if isDigit(s[index]) { digits += 1 }
            index += 1
        }
        if index < s.endIndex, s[index] == UInt8(ascii: ".") {
            index += 1
            while index < s.endIndex, isDigit(s[index]) || s[index] == UInt8(ascii: "_") {
                if isDigit(s[index]) { digits += 1 }
                index += 1
            }
        }
        guard digits > 0 else { return false }
        if index < s.endIndex, s[index] == UInt8(ascii: "e") || s[index] == UInt8(ascii: "E") {
            index += 1
            if index < s.endIndex, s[index] == UInt8(ascii: "+") || s[index] == UInt8(ascii: "-") { index += 1 }
            let exponentStart = index
            while index < s.endIndex, isDigit(s[index]) { index += 1 }
            if index == exponentStart { return false }
        }
        return index == s.endIndex
    }

    /// YAML 1.1's timestamp: `2001-12-14`, optionally followed by a time; any such start counts.
    private static func isTimestamp(_ s: [UInt8]) -> Bool {
        guard s.count >= 8, s[0..<4].allSatisfy(isDigit), s[4] == UInt8(ascii: "-"), isDigit(s[5]) else { return false }
        return true
    }

    // MARK: - What libyaml's emitter can write plain (analyze_scalar, for a block context)

    static func plainAllowed(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.first, let last = scalars.last else { return false }
        if first == " " || last == " " { return false }
        if text.hasPrefix("---") || text.hasPrefix("...") { return false }
        for (index, scalar) in scalars.enumerated() {
            let followedByBlank = index + 1 == scalars.count || scalars[index + 1] == " "
            if index == 0 {
                if "#,[]{}&*!|>'\"%@`".unicodeScalars.contains(scalar) { return false }
                if (scalar == "?" || scalar == ":" || scalar == "-") && followedByBlank { return false }
            } else {
                if scalar == ":" && followedByBlank { return false }
                if scalar == "#" && scalars[index - 1] == " " { return false }
            }
        }
        return true
    }

    /// libyaml's IS_PRINTABLE, less the line feed (which a one-line value cannot hold) and the byte order mark.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20...0x7E, 0x85, 0xA0...0xD7FF, 0xE000...0xFFFD: scalar.value != 0xFEFF
        case 0x10000...0x10FFFF: true
        default: false
        }
    }

    // MARK: - Double-quoted, with libyaml's escapes

    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\0": out += "\\0"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\u{0B}": out += "\\v"
            case "\u{0C}": out += "\\f"
            case "\r": out += "\\r"
            case "\u{1B}": out += "\\e"
            case "\u{85}": out += "\\N"
            case "\u{A0}": out += "\\_"
            case "\u{2028}": out += "\\L"
            case "\u{2029}": out += "\\P"
            default:
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += escaped(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        let (prefix, width) = scalar.value <= 0xFF ? ("\\x", 2) : scalar.value <= 0xFFFF ? ("\\u", 4) : ("\\U", 8)
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return prefix + String(repeating: "0", count: width - digits.count) + digits
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }
}
