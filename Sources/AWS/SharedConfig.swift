// ~/.aws/config and ~/.aws/credentials: profiles as the AWS CLI reads them.
import Foundation

public struct SharedConfig: Sendable {
    /// Profile name → settings. The credentials file's keys win over the config file's for the same profile.
    public var profiles: [String: [String: String]]

    public init(profiles: [String: [String: String]] = [:]) { self.profiles = profiles }

    /// Reads `AWS_CONFIG_FILE` (default `~/.aws/config`) and `AWS_SHARED_CREDENTIALS_FILE` (default
    /// `~/.aws/credentials`); a missing file is empty.
    public static func load(environment env: [String: String]) -> SharedConfig {
        let home = env["HOME"] ?? NSHomeDirectory()
        let configPath = expand(env["AWS_CONFIG_FILE"] ?? "~/.aws/config", home: home)
        let credentialsPath = expand(env["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials", home: home)
        var profiles: [String: [String: String]] = [:]
        for (section, values) in parseINI(read(configPath)) {
            // In the config file, named profiles are `[profile name]`; `[default]` is the default.
            let name: String
            if section == "default" {
                name = "default"
            } else if section.hasPrefix("profile ") {
                name = String(section.dropFirst("profile ".count)).trimmingCharacters(in: .whitespaces)
            } else {
                continue
            }
            profiles[name, default: [:]].merge(values) { $1 }
        }
        for (section, values) in parseINI(read(credentialsPath)) {
            profiles[section, default: [:]].merge(values) { $1 }
        }
        return SharedConfig(profiles: profiles)
    }

    static func expand(_ path: String, home: String) -> String {
        path.hasPrefix("~/") ? home + path.dropFirst(1) : path
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// INI as botocore reads it: `[section]`, `key = value`, `#`/`;` comments, indented lines continue a value
    /// (nested sections such as `s3 =` are kept as text).
    static func parseINI(_ text: String) -> [(String, [String: String])] {
        var sections: [(String, [String: String])] = []
        var lastKey: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.replacingOccurrences(of: "\r", with: "")
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
                sections.append((String(trimmed.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces), [:]))
                lastKey = nil
                continue
            }
            guard !sections.isEmpty else { continue }
            if line.first == " " || line.first == "\t", let key = lastKey {
                sections[sections.count - 1].1[key, default: ""] += "\n" + trimmed
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[sections.count - 1].1[key] = value
            lastKey = key
        }
        return sections
    }
}
