import FleetSupport
// Where a secret comes from: never the inventory itself.
import Foundation

/// A passphrase or password is named by an environment variable or a file, so that inventories can be committed.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    case file(String)

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        }
    }

    public struct ResolutionError: FleetError {
        public let reference: SecretReference
        public let reason: String
        public var errorClass: String { "inventory.secret" }
        public var description: String { "cannot read secret from \(reference): \(reason)" }
        public var hint: String? {
            switch reference {
            case .environment(let name): "export \(name) before running fleetstrap"
            case .file(let path): "create \(path), readable only by you (chmod 600)"
            }
        }
    }

    /// Reads the secret now. A file's trailing newline is dropped, as `kubectl create secret --from-file` users expect.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secret {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ResolutionError(reference: self, reason: "the variable is not set or empty")
            }
            return Secret(value)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ResolutionError(reference: self, reason: "the file cannot be read")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            guard !text.isEmpty else { throw ResolutionError(reference: self, reason: "the file is empty") }
            return Secret(text)
        }
    }
}
