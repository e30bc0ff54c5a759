// A cluster from a kubeconfig context, as kubectl reads it: server, CA (inline or file), and a token (inline, or
// from an exec credential plugin such as `fleetstrap eks-token` or `aws eks get-token`).
import FleetSupport
import Foundation
import Yams

public enum Kubeconfig {
    public struct Invalid: FleetError, Equatable {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
        public var errorClass: String { "kubeconfig" }
    }

    /// `context` nil: the current context. `path` nil: $KUBECONFIG's first file, else ~/.kube/config.
    public static func access(
        path: String? = nil, context: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KubeAccess {
        let file =
            path ?? environment["KUBECONFIG"]?.split(separator: ":").first.map(String.init)
            ?? "\(environment["HOME"] ?? NSHomeDirectory())/.kube/config"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw Invalid(path: file, message: "not readable")
        }
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any] else {
            throw Invalid(path: file, message: "not a YAML mapping")
        }
        func named(_ list: String, _ name: String) throws -> [String: Any] {
            let entries = root[list] as? [[String: Any]] ?? []
            guard let entry = entries.first(where: { $0["name"] as? String == name }) else {
                throw Invalid(
                    path: file,
                    message:
                        """
                        no \(list.dropLast()) named '\(name)' (have: \
                        \(entries.compactMap { $0["name"] as? String }.joined(separator: ", ")))
                        """
                )
            }
            return entry
        }
        guard let contextName = context ?? root["current-context"] as? String else {
            throw Invalid(path: file, message: "no context given and no current-context")
        }
        let ctx = try named("contexts", contextName)["context"] as? [String: Any] ?? [:]
        guard let clusterName = ctx["cluster"] as? String, let userName = ctx["user"] as? String else {
            throw Invalid(path: file, message: "context '\(contextName)' names no cluster or user")
        }
        let cluster = try named("clusters", clusterName)["cluster"] as? [String: Any] ?? [:]
        let user = try named("users", userName)["user"] as? [String: Any] ?? [:]
        guard let server = cluster["server"] as? String else {
            throw Invalid(path: file, message: "cluster '\(clusterName)' has no server")
        }
        if (cluster["insecure-skip-tls-verify"] as? Bool) == true {
            throw Invalid(
                path: file,
                message:
                    """
                    cluster '\(clusterName)' sets insecure-skip-tls-verify: fleetstrap always verifies TLS; remove \
                    it and give certificate-authority-data
                    """
            )
        }
        let ca: [UInt8]
        if let data = cluster["certificate-authority-data"] as? String, let decoded = Data(base64Encoded: data) {
            ca = Array(decoded)
        } else if let caFile = cluster["certificate-authority"] as? String,
            let contents = FileManager.default.contents(atPath: caFile)
        {
            ca = Array(contents)
        } else {
            throw Invalid(
                path: file,
                message: "cluster '\(clusterName)' has no certificate-authority(-data): fleetstrap always verifies TLS")
        }
        let tokens: any KubeTokenSource
        if let token = user["token"] as? String {
            tokens = StaticKubeToken(Secret(token))
        } else if let exec = user["exec"] as? [String: Any], let command = exec["command"] as? String {
            var env: [String: String] = [:]
            for entry in exec["env"] as? [[String: Any]] ?? [] {
                if let name = entry["name"] as? String, let value = entry["value"] as? String { env[name] = value }
            }
            tokens = ExecTokenSource(command: command, arguments: exec["args"] as? [String] ?? [], environment: env)
        } else {
            throw Invalid(path: file, message: "user '\(userName)' has neither a token nor an exec plugin")
        }
        return KubeAccess(name: contextName, server: server, caPEM: ca, tokens: tokens)
    }
}

/// Tokens from an exec credential plugin (ExecCredential JSON on standard output), reused until they expire.
public actor ExecTokenSource: KubeTokenSource {
    let command: String
    let arguments: [String]
    let environment: [String: String]
    private var current: (token: Secret, expires: Date?)?

    public init(command: String, arguments: [String], environment: [String: String]) {
        (self.command, self.arguments, self.environment) = (command, arguments, environment)
    }

    public func token(refresh: Bool) async throws -> Secret {
        if !refresh, let current, current.expires.map { $0.timeIntervalSinceNow > 60 } ?? true { return current.token }
        let executable = command.hasPrefix("/") ? command : "/usr/bin/env"
        let result = try await ChildProcess.run(
            executable, command.hasPrefix("/") ? arguments : [command] + arguments, environment: environment)
        guard result.status == 0 else {
            throw Kubeconfig.Invalid(path: command, message: "the exec credential plugin exited with \(result.status)")
        }
        let output = result.stdout
        guard let json = JSONValue.parse(Array(output)), let token = json[path: "status.token"]?.string else {
            throw Kubeconfig.Invalid(
                path: command, message: "the exec credential plugin printed no ExecCredential with status.token")
        }
        let expires = json[path: "status.expirationTimestamp"]?.string.flatMap { ISO8601DateFormatter().date(from: $0) }
        current = (Secret(token), expires)
        return Secret(token)
    }
}
