// SSH host keys, trusted on first use and pinned per host: the key seen in a handshake becomes a known_hosts line
// (`host keytype base64`, `[host]:port` off port 22) and any later handshake must show the same key. A changed key
// is an error naming both fingerprints, never accepted.
import FleetCrypto
import Foundation
import Synchronization

public final class HostKeyPins: Sendable {
    /// `known_hosts` host pattern → `keytype base64`.
    private let pins: Mutex<[String: String]>

    /// Starts from known_hosts lines (e.g. from the ledger or a file); unreadable lines are ignored.
    public init(knownHosts: String = "") {
        var pins: [String: String] = [:]
        for line in knownHosts.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, !line.hasPrefix("#") else { continue }
            for host in fields[0].split(separator: ",") { pins[String(host)] = "\(fields[1]) \(fields[2])" }
        }
        self.pins = Mutex(pins)
    }

    /// `host` or `[host]:port`, as known_hosts names a server.
    public static func pattern(host: String, port: Int?) -> String {
        guard let port, port != 22 else { return host }
        return "[\(host)]:\(port)"
    }

    /// The known_hosts line pinned for a server, if any.
    public func knownHostsLine(host: String, port: Int?) -> String? {
        let pattern = Self.pattern(host: host, port: port)
        return pins.withLock { $0[pattern] }.map { "\(pattern) \($0)" }
    }

    /// Every pin as known_hosts text.
    public var knownHosts: String {
        pins.withLock { $0.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined() }
    }

    public enum Verdict: Equatable, Sendable {
        case pinnedNow(line: String)
        case matches
        case changed(expected: String, presented: String)
    }

    /// Checks a presented key (SSH wire blob), pinning it when the server has none yet.
    public func check(host: String, port: Int?, keyType: String, key: [UInt8]) -> Verdict {
        let pattern = Self.pattern(host: host, port: port)
        let presented = "\(keyType) \(Data(key).base64EncodedString())"
        return pins.withLock { pins in
            guard let pinned = pins[pattern] else {
                pins[pattern] = presented
                return .pinnedNow(line: "\(pattern) \(presented)")
            }
            if pinned == presented { return .matches }
            return .changed(expected: Self.fingerprint(pinned), presented: Self.fingerprint(presented))
        }
    }

    /// `SHA256:…` of a `keytype base64` pair, as ssh-keygen -l prints it.
    static func fingerprint(_ pair: String) -> String {
        let blob = pair.split(separator: " ").dropFirst().first.flatMap { Data(base64Encoded: String($0)) } ?? Data()
        return "SHA256:" + Data(SHA256.hash(Array(blob))).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }
}
