// CodeCommit Git URLs: what Flux and CodeCommit accept, and the precise reason when a URL is refused.
import FleetSupport

/// A parsed CodeCommit clone URL.
struct CodeCommitURL: Equatable {
    enum Scheme: String { case ssh, https }

    var scheme: Scheme
    var user: String?
    var password: String?
    var host: String
    var port: Int?
    var repository: String

    static func region(ofHost host: String) -> String? { CodeCommitHost.region(of: host) }

    static func isCodeCommitHost(_ host: String) -> Bool { region(ofHost: host) != nil }

    enum Problem: Error, Equatable {
        /// `host:v1/repos/x`: what to write instead.
        case scpLike(suggestion: String)
        case unsupportedScheme(String)
        case malformed(String)
        case notARepositoryPath(String)
    }

    /// Parses `ssh://[user@]host[:port]/v1/repos/<name>` or `https://[user[:password]@]host[:port]/v1/repos/<name>`.
    static func parse(_ text: String) -> Result<CodeCommitURL, Problem> {
        guard let schemeEnd = text.range(of: "://") else {
            // scp-like syntax, [user@]host:path. The suggestion keeps the user only when it is an SSH key id.
            if let m = text.wholeMatch(of: /(?:([^@\/:]+)@)?([^@\/:]+):\/?(.*)/) {
                let suggestedUser = m.1.map(String.init).flatMap { AWSNames.isSSHKeyID($0) ? "\($0)@" : nil } ?? ""
                return .failure(.scpLike(suggestion: "ssh://\(suggestedUser)\(m.2)/\(m.3)"))
            }
            return .failure(.malformed("it has no scheme (ssh:// or https://)"))
        }
        guard let scheme = Scheme(rawValue: String(text[..<schemeEnd.lowerBound]).lowercased()) else {
            return .failure(.unsupportedScheme(String(text[..<schemeEnd.lowerBound])))
        }
        var rest = text[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else {
            return .failure(.notARepositoryPath(""))
        }
        var authority = rest[..<slash]
        let path = String(rest[slash...])
        rest = ""
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            if let colon = info.firstIndex(of: ":") {
                user = String(info[..<colon])
                password = String(info[info.index(after: colon)...])
            } else {
                user = String(info)
            }
            authority = authority[authority.index(after: at)...]
        }
        var host = String(authority)
        var port: Int?
        if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                return .failure(.malformed("the port is not a number from 1 to 65535"))
            }
            port = p
            host = String(authority[..<colon])
        }
        guard AWSNames.isHost(host) else { return .failure(.malformed("'\(host)' is not a host name")) }
        guard let m = path.wholeMatch(of: /\/v1\/repos\/([^\/]+)\/?/) else {
            return .failure(.notARepositoryPath(path))
        }
        return .success(
            CodeCommitURL(
                scheme: scheme, user: user, password: password, host: host, port: port, repository: String(m.1)))
    }
}
