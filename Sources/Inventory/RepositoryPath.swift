// What a cluster's folder in a repository may be named: a path every Git, every file system fleetstrap's mirrors live
// on and every YAML reader takes as written, that no terminal shows as something else.

public enum RepositoryPath {
    /// Why `path` cannot be a cluster's folder, or nil when it can be (the shape checks, `..` and `/`, come after).
    public static func problem(_ path: String) -> String? {
        if path.hasPrefix("-") { return "starts with '-', which git and kubectl read as an option" }
        for scalar in path.unicodeScalars {
            if scalar.value == 0 { return "holds a NUL character" }
            if scalar.properties.generalCategory == .control { return "holds a control character (U+\(hex(scalar)))" }
            if isBidiControl(scalar) {
                return "holds the bidirectional control U+\(hex(scalar)), which makes a terminal show another name"
            }
            if scalar == "\\" { return "holds a backslash; folders are separated by '/'" }
            if scalar == "\u{FEFF}" { return "holds a byte order mark (U+FEFF)" }
        }
        let components = path.split(separator: "/")
        if components.contains(where: { $0.lowercased() == ".git" }) {
            return "has a '.git' component, which git refuses to write"
        }
        if components.contains(where: { $0.hasPrefix("-") }) {
            return "has a component starting with '-', which git and kubectl read as an option"
        }
        return nil
    }

    /// `path` with every character `problem` names written as `\u{…}`, so an error message shows what is there.
    public static func visible(_ path: String) -> String {
        var out = ""
        for scalar in path.unicodeScalars {
            if scalar.properties.generalCategory == .control || isBidiControl(scalar) || scalar == "\u{FEFF}" {
                out += "\\u{\(hex(scalar))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The Unicode bidirectional formatting characters (the "Trojan Source" set).
    static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
