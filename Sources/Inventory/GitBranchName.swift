// Git's rules for a branch name, as `git check-ref-format --branch NAME` applies them outside a repository:
// `refs/heads/NAME` must pass check_refname_format (refs.c), NAME must not start with '-' and must not be HEAD.
// Held to git itself by GitBranchNameTests on a generated list of names.

public enum GitBranchName {
    /// Why `name` is not a branch name git would accept, or nil when it is one.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "it is empty" }
        if bytes.first == UInt8(ascii: "-") { return "it starts with '-'" }
        if name == "HEAD" { return "HEAD is not a branch name" }
        if let byte = bytes.first(where: isRefused) { return "it holds \(describe(byte))" }
        if bytes.last == UInt8(ascii: ".") { return "it ends with '.'" }
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: ".") { return "it holds '..'" }
            if byte == UInt8(ascii: "{"), previous == UInt8(ascii: "@") { return "it holds '@{'" }
            previous = byte
        }
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if component.isEmpty { return "it has an empty component (a leading, trailing or double '/')" }
            if component.first == UInt8(ascii: ".") { return "a component starts with '.'" }
            if component.count >= 5, component.suffix(5).elementsEqual(".lock".utf8) {
                return "a component ends with '.lock'"
            }
        }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { problem(name) == nil }

    /// refs.c's disposition 4 and 5: ASCII control characters, DEL, space, `~^:?*[\`.
    private static func isRefused(_ byte: UInt8) -> Bool {
        switch byte {
        case 0..<0x20, 0x7F: true
        case UInt8(ascii: " "), UInt8(ascii: "~"), UInt8(ascii: "^"), UInt8(ascii: ":"), UInt8(ascii: "?"),
            UInt8(ascii: "*"), UInt8(ascii: "["), UInt8(ascii: "\\"):
            true
        default: false
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0..<0x20, 0x7F: "a control character"
        case UInt8(ascii: " "): "a space"
        default: "'\(Character(Unicode.Scalar(byte)))'"
        }
    }
}
