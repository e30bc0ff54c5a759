// What the simulated source-controller does with a GitRepository: authenticate with the credentials of its Secret
// (or the controller's IRSA role for `provider: aws`) and fetch the ref from the lab's Git endpoints with the git
// CLI and OpenSSH, as source-controller would. In scale mode the same credentials are checked against the lab's
// IAM state and the ref read from the bare repository, without a process per cluster.
import FleetCrypto
import FleetSupport
import Foundation
import SigV4

struct SourceFetcher: Sendable {
    enum Ref: Sendable, Equatable {
        case branch(String)
        case tag(String)
        case commit(String)

        /// `<branch>@sha1:<commit>`, Flux's revision format.
        func revision(_ commit: String) -> String {
            switch self {
            case .branch(let name), .tag(let name): "\(name)@sha1:\(commit)"
            case .commit: "sha1:\(commit)"
            }
        }
    }

    struct Request: Sendable {
        /// The `reconcile.fluxcd.io/requestedAt` and generation this fetch answers (a request made while it runs
        /// is answered by the next one).
        var requestedAt: String? = nil
        var generation = 1
        var cluster: String
        var namespace: String
        var name: String
        var url: String
        var ref: Ref
        /// The Secret's data, decoded; nil when the GitRepository names no secret.
        var secret: [String: String]?
        /// `spec.provider`: `aws` authenticates with the source-controller's IRSA role.
        var provider: String?
        /// The `eks.amazonaws.com/role-arn` annotation of the source-controller's ServiceAccount.
        var controllerRole: String?
        /// `namespace/name` of a secretRef that names no Secret.
        var missingSecret: String?
    }

    struct Artifact: Sendable, Equatable {
        var commit: String
        /// Every directory of the commit's tree (for the Kustomization's path); nil in scale mode.
        var directories: Set<String>?
    }

    /// Flux's condition reason and message.
    struct Failure: Error, Sendable, Equatable {
        var reason: String
        var message: String
    }

    let state: LabState
    let workDirectory: String
    let repositoriesRoot: String
    let caBundle: String
    /// The lab's SSH host key, `keytype base64`; nil when the lab serves no SSH.
    let sshHostKey: String?
    let scaleMode: Bool
    /// Whether the cluster's source-controller may authenticate with an SSH key id (a fault can refuse some).
    var allowsKey: @Sendable (_ cluster: String, _ keyID: String) -> Bool = { _, _ in true }

    /// `name` of a CodeCommit path `/v1/repos/<name>` (letters, digits, `.`, `_`, `-`); by hand, not a regex
    /// literal compiled again for every fetch.
    static func repositoryName(_ path: String) -> Substring? {
        guard path.hasPrefix("/v1/repos/") else { return nil }
        let name = path.dropFirst("/v1/repos/".count)
        guard !name.isEmpty,
            name.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            })
        else { return nil }
        return name
    }

    func fetch(_ request: Request) async -> Result<Artifact, Failure> {
        guard let url = URLComponents(string: request.url), let scheme = url.scheme, let host = url.host,
            let name = Self.repositoryName(url.path)
        else {
            return .failure(
                Failure(reason: "URLInvalid", message: "invalid url '\(request.url)': not a CodeCommit repository URL"))
        }
        if let missing = request.missingSecret {
            let name = missing.split(separator: "/").last.map(String.init) ?? missing
            return .failure(Self.authFailure("failed to get secret '\(missing)': secrets \"\(name)\" not found"))
        }
        let hostPort = url.port.map { "\(host):\($0)" } ?? host
        switch (scheme, request.provider) {
        case ("ssh", _):
            guard let secret = request.secret else {
                return .failure(Self.authFailure("an SSH URL needs a secretRef with 'identity' and 'known_hosts'"))
            }
            guard let identity = secret["identity"], let knownHosts = secret["known_hosts"] else {
                return .failure(
                    Self.authFailure("invalid 'ssh' auth option: 'identity' and 'known_hosts' are required"))
            }
            let key: RSAPrivateKey
            do {
                key = try RSAPrivateKey(pem: Secret(identity), passphrase: secret["password"].map(Secret.init))
            } catch {
                return .failure(Self.authFailure("failed to parse identity: \(error)"))
            }
            guard allowsKey(request.cluster, url.user ?? "") else {
                return .failure(
                    Self.cloneFailure(
                        request.url,
                        """
                        ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no \
                        supported methods remain
                        """
                    ))
            }
            if scaleMode {
                return checkSSH(
                    user: url.user ?? "", host: host, port: url.port ?? 22, repository: String(name), key: key,
                    knownHosts: knownHosts, ref: request.ref)
            }
            return await gitFetch(request, url: request.url, sshKey: key, knownHosts: knownHosts)
        case ("https", "aws"):
            guard let role = request.controllerRole else {
                return .failure(
                    Self.authFailure(
                        """
                        provider 'aws': the source-controller ServiceAccount has no eks.amazonaws.com/role-arn \
                        annotation (IRSA)
                        """
                    ))
            }
            guard let roleConfig = state.role(arn: role), roleConfig.webIdentity == true else {
                return .failure(
                    Self.authFailure(
                        """
                        provider 'aws': AssumeRoleWithWebIdentity failed: role \(role) cannot be assumed with a web \
                        identity
                        """
                    ))
            }
            let session = state.issueSession(roleARN: role, sessionName: "source-controller", duration: 3600)
            guard let repository = state.repositories(accountID: session.accountID, named: String(name)).first else {
                return .failure(
                    Self.cloneFailure(
                        request.url, "repository '\(name)' does not exist in account \(session.accountID)"))
            }
            let credentials = CodeCommitGitCredentials.make(
                host: hostPort, path: "/v1/repos/\(name)", region: repository.region,
                credentials: AWSCredentials(
                    accessKeyID: session.accessKeyID, secretAccessKey: session.secret,
                    sessionToken: session.sessionToken),
                date: state.now())
            return await https(
                request, hostPort: hostPort, repository: String(name), username: credentials.username,
                password: credentials.password.reveal())
        case ("https", _):
            guard let username = request.secret?["username"], let password = request.secret?["password"] else {
                return .failure(
                    Self.authFailure(
                        "invalid 'https' auth option: 'username' and 'password' are required (or provider: aws)"))
            }
            return await https(
                request, hostPort: hostPort, repository: String(name), username: username, password: password)
        default:
            return .failure(
                Failure(reason: "URLInvalid", message: "unsupported URL scheme '\(scheme)' in '\(request.url)'"))
        }
    }

    private func https(_ request: Request, hostPort: String, repository: String, username: String, password: String)
        async -> Result<Artifact, Failure>
    {
        if scaleMode {
            let service = GitHTTPService(state: state, repositoriesRoot: repositoriesRoot)
            guard
                let accountID = service.authenticate(
                    user: username, password: password, name: repository, host: hostPort)
            else {
                return .failure(
                    Self.cloneFailure(
                        request.url, "authentication required: the Git password is not valid for this repository"))
            }
            return readRef(accountID: accountID, repository: repository, ref: request.ref, url: request.url)
        }
        let basic = Data("\(username):\(password)".utf8).base64EncodedString()
        return await gitFetch(
            request, url: request.url,
            extraEnvironment: [
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": "Authorization: Basic \(basic)",
            ])
    }

    // MARK: Scale mode: the checks the servers would make, without a process

    private func checkSSH(
        user: String, host: String, port: Int, repository: String, key: RSAPrivateKey, knownHosts: String, ref: Ref
    ) -> Result<Artifact, Failure> {
        let hostPattern = port == 22 ? host : "[\(host)]:\(port)"
        let labHostKey = sshHostKey
        let known = knownHosts.split(whereSeparator: \.isNewline).map { $0.split(separator: " ").map(String.init) }
            .filter { $0.count >= 3 && $0[0].split(separator: ",").contains { String($0) == hostPattern } }
        guard let labHostKey, !known.isEmpty else {
            return .failure(
                Self.cloneFailure("ssh://\(hostPattern)", "ssh: handshake failed: knownhosts: key is unknown"))
        }
        guard known.contains(where: { "\($0[1]) \($0[2])" == labHostKey }) else {
            return .failure(
                Self.cloneFailure("ssh://\(hostPattern)", "ssh: handshake failed: knownhosts: key mismatch"))
        }
        guard let stored = state.key(id: user), stored.active, SSHPublicKey(openSSH: stored.body) == key.publicKey
        else {
            return .failure(
                Self.cloneFailure(
                    "ssh://\(user)@\(hostPattern)/v1/repos/\(repository)",
                    """
                    ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no \
                    supported methods remain
                    """
                ))
        }
        return readRef(
            accountID: stored.accountID, repository: repository, ref: ref,
            url: "ssh://\(user)@\(hostPattern)/v1/repos/\(repository)")
    }

    private func readRef(accountID: String, repository: String, ref: Ref, url: String) -> Result<Artifact, Failure> {
        let path = "\(repositoriesRoot)/\(accountID)/\(repository).git"
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(Self.cloneFailure(url, "repository not found"))
        }
        switch ref {
        case .commit(let commit):
            return .success(Artifact(commit: commit, directories: nil))
        case .branch(let name), .tag(let name):
            let full = (ref == .branch(name) ? "refs/heads/" : "refs/tags/") + name
            if let loose = try? String(contentsOfFile: "\(path)/\(full)", encoding: .utf8) {
                return .success(
                    Artifact(commit: loose.trimmingCharacters(in: .whitespacesAndNewlines), directories: nil))
            }
            let packed = (try? String(contentsOfFile: "\(path)/packed-refs", encoding: .utf8)) ?? ""
            for line in packed.split(separator: "\n") where line.hasSuffix(" \(full)") {
                return .success(Artifact(commit: String(line.prefix(40)), directories: nil))
            }
            return .failure(Self.cloneFailure(url, "couldn't find remote ref \(full)"))
        }
    }

    // MARK: Real fetches: git and OpenSSH into a bare mirror per GitRepository

    private func gitFetch(
        _ request: Request, url: String, sshKey: RSAPrivateKey? = nil, knownHosts: String? = nil,
        extraEnvironment: [String: String] = [:]
    ) async -> Result<Artifact, Failure> {
        let fm = FileManager.default
        let mirror = "\(workDirectory)/\(request.cluster)/\(request.namespace)--\(request.name).git"
        let scratch = "\(workDirectory)/scratch-\(UUID().uuidString)"
        defer { try? fm.removeItem(atPath: scratch) }
        var environment = [
            "PATH": "/usr/bin:/bin", "HOME": scratch, "GIT_TERMINAL_PROMPT": "0", "GIT_SSL_CAINFO": caBundle,
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "20",
        ].merging(extraEnvironment) { $1 }
        do {
            try fm.createDirectory(
                atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if let sshKey, let knownHosts {
                // The key as source-controller holds it in memory; OpenSSH needs a file (the lab's own folder, 0600).
                try Self.writePrivate(try sshKey.pem().reveal(), to: "\(scratch)/identity")
                try Self.writePrivate(
                    knownHosts.hasSuffix("\n") ? knownHosts : knownHosts + "\n", to: "\(scratch)/known_hosts")
                environment["GIT_SSH_COMMAND"] =
                    "ssh -F /dev/null -i \(scratch)/identity -o IdentitiesOnly=yes -o BatchMode=yes"
                        + """
                         -o UserKnownHostsFile=\(scratch)/known_hosts -o GlobalKnownHostsFile=/dev/null -o \
                        StrictHostKeyChecking=yes
                        """
                    + " -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
            }
            if !fm.fileExists(atPath: mirror) {
                try fm.createDirectory(atPath: mirror, withIntermediateDirectories: true)
                let initialised = try await LabProcess.run(
                    "/usr/bin/git", ["init", "-q", "--bare", mirror], environment: environment)
                guard initialised.status == 0 else { return .failure(Self.cloneFailure(url, initialised.stderr)) }
            }
            let (refspec, local): (String, String) =
                switch request.ref {
                case .branch(let b): ("+refs/heads/\(b):refs/heads/\(b)", "refs/heads/\(b)")
                case .tag(let t): ("+refs/tags/\(t):refs/tags/\(t)", "refs/tags/\(t)")
                case .commit(let c): (c, c)
                }
            let fetched = try await LabProcess.run(
                "/usr/bin/git", ["-C", mirror, "fetch", "-q", "--depth=1", "--no-tags", url, refspec],
                environment: environment)
            guard fetched.status == 0 else { return .failure(Self.cloneFailure(url, fetched.stderr)) }
            let parsed = try await LabProcess.run(
                "/usr/bin/git", ["-C", mirror, "rev-parse", "\(local)^{commit}"], environment: environment)
            let commit = String(decoding: parsed.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard parsed.status == 0, commit.count == 40 else { return .failure(Self.cloneFailure(url, parsed.stderr)) }
            let tree = try await LabProcess.run(
                "/usr/bin/git", ["-C", mirror, "ls-tree", "-r", "-d", "--name-only", commit], environment: environment)
            let directories = Set(String(decoding: tree.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
            return .success(Artifact(commit: commit, directories: directories))
        } catch {
            return .failure(Self.cloneFailure(url, "\(error)"))
        }
    }

    private static func writePrivate(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw LabFailure("cannot write \(path)")
        }
    }

    static func authFailure(_ message: String) -> Failure { Failure(reason: "AuthenticationFailed", message: message) }

    /// source-controller's message for a failed clone, with git's own words (its last lines, no credentials).
    static func cloneFailure(_ url: String, _ detail: String) -> Failure {
        // git's closing advice says nothing about the cause; the lines before it do.
        let generic = [
            "fatal: Could not read from remote repository.", "Please make sure you have the correct access rights",
            "and the repository exists.",
        ]
        let lines = detail.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !generic.contains($0) }
        let reason = lines.suffix(2).joined(separator: "; ")
        return Failure(
            reason: "GitOperationFailed",
            message:
                """
                failed to checkout and determine revision: unable to clone '\(url)': \
                \(reason.isEmpty ? "unknown error" : reason)
                """
        )
    }
}
