// A repository's URL and endpoint as CodeCommit takes them: the URL rules and `host[:port]`.
import FleetSupport

extension InventoryResolver {
    /// The CodeCommit URL rules: no scp-like form, `/v1/repos/<name>`, and for SSH a user that is a key id.
    func checkURL(_ url: Located<String>, repository d: RepositoryDraft, identities: [Identity]) -> CodeCommitURL? {
        let what = "repository '\(d.name.value)'"
        switch CodeCommitURL.parse(url.value) {
        case .failure(.scpLike(let suggestion)):
            collector.error(
                "scp-url", at: url.location, "\(what): scp-like URLs (host:path) are not supported by Flux",
                hint: "write url: \(suggestion)")
        case .failure(.unsupportedScheme(let scheme)):
            collector.error(
                "url", at: url.location, "\(what): url scheme '\(scheme)' is not supported",
                hint: "CodeCommit is reached over ssh:// or https://")
        case .failure(.malformed(let reason)):
            collector.error("url", at: url.location, "\(what): url '\(url.value)' is malformed: \(reason)")
        case .failure(.notARepositoryPath(let path)):
            collector.error(
                "url", at: url.location, "\(what): url path '\(path)' is not a CodeCommit repository path",
                hint: "CodeCommit serves repositories at /v1/repos/<name>")
        case .success(let parsed):
            if parsed.password != nil {
                collector.error(
                    "inline-secret", at: url.location, "\(what): url must not carry a password",
                    hint: "use transport: https-token with password: {env: VARIABLE}")
                return nil
            }
            if parsed.scheme == .https, let user = parsed.user {
                collector.error(
                    "https-credentials", at: url.location, "\(what): https url must not carry a user name ('\(user)')",
                    hint: d.transport?.value == .httpsToken
                        ? "set username: instead"
                        : "IAM credentials sign each Git operation; no user belongs in the URL")
                return nil
            }
            if parsed.scheme == .ssh, let user = parsed.user, !AWSNames.isSSHKeyID(user) {
                let identity = d.identity.flatMap { ref in identities.first { $0.name == ref.value } }
                let reason: String
                if user == "git" {
                    reason =
                        "'git' is GitHub's SSH user; CodeCommit expects the SSHPublicKeyId of an IAM user's SSH key"
                } else if let identity, user == identity.iamUser {
                    reason =
                        "'\(user)' is the IAM user name; CodeCommit expects the SSHPublicKeyId of its SSH key, not "
                        + "the user name"
                } else {
                    reason =
                        "'\(user)' does not look like an SSH key id; CodeCommit expects the SSHPublicKeyId "
                        + "(APKA…) of an IAM user's SSH key"
                }
                var fixed = parsed
                fixed.user = nil
                collector.error(
                    "ssh-user", at: url.location, "\(what): \(reason)",
                    hint:
                        "leave the user out (url: "
                        + "ssh://\(fixed.host)\(fixed.port.map { ":\($0)" } ?? "")/v1/repos/\(fixed.repository)) "
                        + "and fleetstrap uses the identity's active key id"
                )
                return nil
            }
            return parsed
        }
        return nil
    }

    func parseEndpoint(_ text: String) -> (String, Int?)? {
        var rest = Substring(text)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var port: Int?
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            rest = rest[..<colon]
        }
        guard AWSNames.isHost(String(rest)) else { return nil }
        return (String(rest), port)
    }
}
