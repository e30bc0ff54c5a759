// The command-line tools tests run as peers (kubectl, git…), found as a shell finds them. scripts/install-deps.sh
// installs each one, so a test that needs a tool requires it rather than skipping without it.
import Foundation

public enum Tools {
    /// The absolute path of `name` on this process's PATH (then /usr/local/bin, /usr/bin), or nil.
    public static func path(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin"]
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
