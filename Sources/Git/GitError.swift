// libgit2's failures as fleetstrap reports them: the operation, the remote without credentials, libgit2's error
// class and message, and what to check.
import CGit2
import FleetSupport
import Foundation

public struct GitError: FleetError, Equatable {
    public enum Kind: String, Sendable {
        /// The server refused the credentials (or none were acceptable).
        case authentication
        /// The server's certificate or host key is not the one trusted.
        case serverIdentity
        /// The remote branch moved since it was fetched.
        case nonFastForward
        /// Cancelled by the caller.
        case cancelled
        /// Network, protocol or server failure.
        case transport
        /// Bad input (a path outside the cluster's directory, a malformed URL).
        case invalid
        case other
    }

    public let kind: Kind
    /// `clone`, `fetch`, `push`, `commit`…
    public let operation: String
    /// The remote URL with any user info removed.
    public let remote: String
    /// libgit2's error class (`net`, `ssh`, `http`, `reference`…) and message, when libgit2 reported one.
    public let libgit2: String?
    public let message: String
    public let hint: String?

    public init(
        _ kind: Kind, operation: String, remote: String, message: String, libgit2: String? = nil, hint: String? = nil
    ) {
        self.kind = kind
        self.operation = operation
        self.remote = GitURL.redacted(remote)
        self.message = message
        self.libgit2 = libgit2
        self.hint = hint
    }

    public var description: String {
        var text = "git \(operation) \(remote): \(message)"
        if let libgit2, !message.contains(libgit2) { text += " (libgit2: \(libgit2))" }
        if let hint { text += "; \(hint)" }
        return text
    }

    public var errorClass: String { "git.\(kind.rawValue)" }

    /// libgit2's last error for a failed call, classified.
    static func last(_ code: Int32, operation: String, remote: String) -> GitError {
        let (klass, text) = lastError()
        let detail = "\(klass): \(text)"
        let kind: Kind =
            code == GIT_ENONFASTFORWARD.rawValue || text.contains("non-fast-forward") || text.contains("fetch first")
            ? .nonFastForward
            : code == GIT_EAUTH.rawValue || klass == "ssh" && text.lowercased().contains("auth") || text.contains("401")
                || text.contains("403")
                ? .authentication
                : code == GIT_ECERTIFICATE.rawValue
                    ? .serverIdentity
                    : klass == "net" || klass == "ssh" || klass == "http" || klass == "ssl"
                        ? .transport
                        : .other
        return GitError(kind, operation: operation, remote: remote, message: text, libgit2: detail)
    }

    static func lastError() -> (klass: String, message: String) {
        guard let error = git_error_last() else { return ("none", "unknown error") }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        return (className(error.pointee.klass), message.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func className(_ klass: Int32) -> String {
        switch git_error_t(UInt32(klass)) {
        case GIT_ERROR_NOMEMORY: "memory"
        case GIT_ERROR_OS: "os"
        case GIT_ERROR_INVALID: "invalid"
        case GIT_ERROR_REFERENCE: "reference"
        case GIT_ERROR_ZLIB: "zlib"
        case GIT_ERROR_REPOSITORY: "repository"
        case GIT_ERROR_CONFIG: "config"
        case GIT_ERROR_ODB: "odb"
        case GIT_ERROR_INDEX: "index"
        case GIT_ERROR_OBJECT: "object"
        case GIT_ERROR_NET: "net"
        case GIT_ERROR_TREE: "tree"
        case GIT_ERROR_SSL: "ssl"
        case GIT_ERROR_SSH: "ssh"
        case GIT_ERROR_HTTP: "http"
        case GIT_ERROR_CALLBACK: "callback"
        default: "class \(klass)"
        }
    }
}

/// Git remote URLs: parts, and the form safe to print.
public enum GitURL {
    /// The URL without user info (`ssh://APKA…@host/…` → `ssh://host/…`, `https://user:pass@host` →
    /// `https://host`).
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
    }

    /// Scheme, user, host, port and path of `scheme://[user@]host[:port]/path`.
    public static func parts(_ url: String) -> (scheme: String, user: String?, host: String, port: Int?, path: String)?
    {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host,
            !host.isEmpty
        else {
            return nil
        }
        return (scheme, components.user, host, components.port, components.percentEncodedPath)
    }
}
