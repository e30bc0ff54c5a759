// One inventory file's node tree → draft values. Checks what a single value can be checked for (types, shapes,
// ranges); references between entries are the resolver's job.
import FleetSupport
import Yams

struct InventoryParser {
    let source: SourceFile
    let isRoot: Bool

    static let rootKeys = [
        "apiVersion", "kind", "metadata", "include", "defaults", "accounts", "repositories", "identities", "clusters",
    ]
    static let accountKeys = ["name", "id", "roleArn", "externalId", "sessionName", "durationSeconds", "region"]
    static let repositoryKeys = [
        "name", "account", "region", "codecommit", "url", "endpoint", "branch", "transport", "identity", "username",
        "password",
    ]
    static let identityKeys = ["name", "account", "iamUser", "keyAlgorithm", "keyBits", "passphrase", "maxKeyAge"]
    static let clusterKeys = [
        "name", "account", "region", "eksCluster", "kubeconfig", "repository", "path", "labels", "flux",
    ]
    static let defaultsKeys = ["account", "region", "repository", "labels", "flux", "rollout"]
    static let fluxKeys = [
        "version", "components", "componentsExtra", "manifests", "registry", "imagePullSecret", "networkPolicy",
        "clusterDomain", "tolerationKeys", "serviceAccountRoles", "sops", "patches",
    ]
    static let rolloutKeys = ["parallelism", "waves", "maxFailures", "clusterTimeout", "rateLimits"]
    static let serviceAccountRoleKeys = [
        "sourceController": "source-controller",
        "kustomizeController": "kustomize-controller",
        "imageReflectorController": "image-reflector-controller",
    ]

    /// Reads the root mapping into `draft`; returns the include paths as written (relative to this file).
    func parse(_ root: Node, into draft: inout InventoryDraft) -> [Located<String>] {
        guard let fields = YAMLFields(root, path: "inventory", known: Self.rootKeys, source: source) else { return [] }
        fields.reportUnknownKeys()

        if let apiVersion = fields.string("apiVersion", required: isRoot), apiVersion.value != Inventory.apiVersion {
            source.collector.error(
                "api-version", at: apiVersion.location,
                "unsupported apiVersion '\(apiVersion.value)'; this fleetstrap reads '\(Inventory.apiVersion)'")
        }
        if let kind = fields.string("kind", required: isRoot), kind.value != Inventory.kind {
            source.collector.error(
                "kind", at: kind.location, "kind must be '\(Inventory.kind)', found '\(kind.value)'")
        }
        if let metadata = fields.fields("metadata", known: ["name"]) {
            metadata.reportUnknownKeys()
            if isRoot, let name = metadata.string("name") {
                if name.value.isEmpty || name.value.unicodeScalars.count > 253
                    || name.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                {
                    source.collector.error(
                        "metadata-name", at: name.location,
                        "metadata.name must be 1 to 253 characters without control characters, found "
                            + "\(name.value.unicodeScalars.count)",
                        hint: "name the fleet as you would a Kubernetes object, e.g. production-eu")
                }
                draft.name = name
            }
        }
        if let defaults = fields.fields("defaults", known: Self.defaultsKeys) {
            if isRoot {
                draft.defaults = parseDefaults(defaults)
            } else {
                source.error(
                    "include-defaults", at: fields.keyMark("defaults"),
                    "defaults belong in the root inventory, not in an included file",
                    hint: "move this block to the file passed to -f")
            }
        }
        for (i, node) in (fields.sequence("accounts") ?? []).enumerated() {
            if let a = parseAccount(node, path: "accounts[\(i)]") { draft.accounts.append(a) }
        }
        for (i, node) in (fields.sequence("repositories") ?? []).enumerated() {
            if let r = parseRepository(node, path: "repositories[\(i)]") { draft.repositories.append(r) }
        }
        for (i, node) in (fields.sequence("identities") ?? []).enumerated() {
            if let id = parseIdentity(node, path: "identities[\(i)]") { draft.identities.append(id) }
        }
        for (i, node) in (fields.sequence("clusters") ?? []).enumerated() {
            if let c = parseCluster(node, path: "clusters[\(i)]") { draft.clusters.append(c) }
        }
        return fields.strings("include") ?? []
    }

    // MARK: Sections

    func parseDefaults(_ f: YAMLFields) -> DefaultsDraft {
        f.reportUnknownKeys()
        var d = DefaultsDraft()
        d.account = f.string("account")
        d.region = region(f, "region")
        d.repository = f.string("repository")
        d.labels = labels(f)
        d.flux = f.fields("flux", known: Self.fluxKeys).map(parseFlux)
        d.rollout = f.fields("rollout", known: Self.rolloutKeys).map(parseRollout)
        return d
    }

    func entry(_ node: Node, path: String, known: [String]) -> (YAMLFields, Located<String>)? {
        guard let f = YAMLFields(node, path: path, known: known, source: source) else { return nil }
        f.reportUnknownKeys()
        guard let name = f.string("name", required: true) else { return nil }
        guard !name.value.isEmpty else {
            source.collector.error("required", at: name.location, "\(path).name must not be empty")
            return nil
        }
        return (f, name)
    }

    func parseAccount(_ node: Node, path: String) -> AccountDraft? {
        guard let (f, name) = entry(node, path: path, known: Self.accountKeys) else { return nil }
        let what = "account '\(name.value)'"
        var a = AccountDraft(location: f.location, name: name)
        a.id = f.string("id", required: true)
        if let id = a.id, !AWSNames.isAccountID(id.value) {
            source.collector.error(
                "account-id", at: id.location, "\(what): id '\(id.value)' is not a 12-digit AWS account id",
                hint: "write it quoted, with any leading zeros, e.g. id: \"012345678901\"")
        }
        a.roleARN = f.string("roleArn")
        if let arn = a.roleARN {
            if let arnAccount = AWSNames.roleARNAccount(arn.value) {
                if let id = a.id?.value, AWSNames.isAccountID(id), arnAccount != id {
                    source.collector.error(
                        "role-arn-account", at: arn.location,
                        "\(what): roleArn is in account \(arnAccount), but the account's id is \(id)",
                        hint: "fleetstrap assumes a role in each account itself; use the role in \(id)")
                }
            } else {
                source.collector.error(
                    "role-arn", at: arn.location, "\(what): roleArn '\(arn.value)' is not an IAM role ARN",
                    hint: "expected arn:aws:iam::<12-digit account id>:role/<name>")
            }
        }
        if let external = f.string("externalId") {
            if AWSNames.isExternalID(external.value) {
                a.externalID = external.value
            } else {
                source.collector.error(
                    "external-id", at: external.location,
                    "\(what): externalId must be 2 to 1224 characters of letters, digits and +=,.@:/-")
            }
        }
        if let session = f.string("sessionName") {
            if AWSNames.isRoleSessionName(session.value) {
                a.sessionName = session.value
            } else {
                source.collector.error(
                    "session-name", at: session.location,
                    "\(what): sessionName must be 2 to 64 characters of letters, digits and +=,.@_-")
            }
        }
        a.durationSeconds = f.int("durationSeconds", in: 900...43_200)?.value
        a.region = region(f, "region")
        return a
    }

    func parseRepository(_ node: Node, path: String) -> RepositoryDraft? {
        guard let (f, name) = entry(node, path: path, known: Self.repositoryKeys) else { return nil }
        var r = RepositoryDraft(location: f.location, name: name)
        r.account = f.string("account")
        r.region = region(f, "region")
        r.codecommit = f.string("codecommit")
        if let cc = r.codecommit, !AWSNames.isCodeCommitRepositoryName(cc.value) {
            source.collector.error(
                "codecommit-name", at: cc.location,
                "repository '\(name.value)': '\(cc.value)' is not a CodeCommit repository name",
                hint:
                    "1 to 100 letters, digits, '.', '_' or '-', not ending in .git; or give the full clone URL as url:")
        }
        r.url = f.string("url")
        r.endpoint = f.string("endpoint")
        r.branch = f.string("branch")?.value
        if let branch = r.branch, let problem = GitBranchName.problem(branch) {
            source.error(
                "branch", at: f.value("branch")?.mark,
                "repository '\(name.value)': '\(branch)' is not a Git branch name: \(problem)",
                hint:
                    "git check-ref-format --branch NAME tells whether git accepts a name, e.g. main or release/2024-06")
        }
        if let transport = f.string("transport") {
            if let t = GitTransport(rawValue: transport.value) {
                r.transport = Located(value: t, location: transport.location)
            } else {
                let known = GitTransport.allCases.map(\.rawValue)
                source.collector.error(
                    "transport", at: transport.location,
                    "repository '\(name.value)': unknown transport '\(transport.value)'"
                        + (Suggestion.closest(to: transport.value, in: known).map { "; did you mean '\($0)'?" } ?? ""),
                    hint:
                        "one of: ssh (IAM SSH keys), https (IAM credentials, Flux 2.9+), https-token (IAM HTTPS Git "
                        + "credentials)"
                )
            }
        }
        r.identity = f.string("identity")
        if let node = f.value("username"), case .mapping = node {
            // A user name kept where a rotation can write it ({file: …}) or read from the environment.
            r.usernameReference = secretReference(node, what: "repository '\(name.value)': username")
            r.username = Located(value: "", location: source.location(node.mark))
        } else {
            r.username = f.string("username")
        }
        if let node = f.value("password") {
            r.password = secretReference(node, what: "repository '\(name.value)': password")
            r.passwordLocation = source.location(node.mark)
        }
        return r
    }

    func parseIdentity(_ node: Node, path: String) -> IdentityDraft? {
        guard let (f, name) = entry(node, path: path, known: Self.identityKeys) else { return nil }
        let what = "identity '\(name.value)'"
        var id = IdentityDraft(location: f.location, name: name)
        id.account = f.string("account", required: true)
        id.iamUser = f.string("iamUser")
        if let user = id.iamUser, !AWSNames.isIAMUserName(user.value) {
            source.collector.error(
                "iam-user", at: user.location, "\(what): '\(user.value)' is not an IAM user name",
                hint: "up to 64 letters, digits and +=,.@_-")
        }
        if let algorithm = f.string("keyAlgorithm"), algorithm.value.lowercased() != "rsa" {
            source.collector.error(
                "key-algorithm", at: algorithm.location,
                "\(what): keyAlgorithm '\(algorithm.value)' cannot be used with CodeCommit",
                hint:
                    "IAM accepts only RSA SSH keys for CodeCommit (ECDSA and Ed25519 are refused); use keyAlgorithm: "
                    + "rsa"
            )
        }
        if let bits = f.int("keyBits") {
            if bits.value < 2048 || bits.value > 16384 {
                source.collector.error(
                    "key-bits", at: bits.location,
                    "\(what): keyBits must be from 2048 (IAM's minimum) to 16384, found \(bits.value)",
                    hint: "4096 is the default and what Flux's CodeCommit guide recommends")
            } else {
                id.keyBits = bits.value
            }
        }
        if let node = f.value("passphrase") {
            id.passphrase = secretReference(node, what: "\(what): passphrase")
        } else {
            f.missing("passphrase")
        }
        if let age = f.string("maxKeyAge") { id.maxKeyAge = duration(age, what: "\(what): maxKeyAge") }
        return id
    }

    func parseCluster(_ node: Node, path: String) -> ClusterDraft? {
        guard let (f, name) = entry(node, path: path, known: Self.clusterKeys) else { return nil }
        var c = ClusterDraft(location: f.location, name: name)
        c.account = f.string("account")
        c.region = region(f, "region")
        c.eksCluster = f.string("eksCluster")
        if let kube = f.fields("kubeconfig", known: ["context", "path"]) {
            kube.reportUnknownKeys()
            if let context = kube.string("context", required: true) {
                c.kubeconfig = (context.value, kube.string("path")?.value)
                c.kubeconfigLocation = kube.location
            }
        }
        c.repository = f.string("repository")
        c.path = f.string("path")
        c.labels = labels(f)
        c.flux = f.fields("flux", known: Self.fluxKeys).map(parseFlux)
        return c
    }

    // MARK: Values

    func region(_ f: YAMLFields, _ key: String) -> Located<String>? {
        guard let r = f.string(key) else { return nil }
        guard AWSNames.isRegion(r.value) else {
            source.collector.error(
                "region", at: r.location, "\(f.path).\(key) '\(r.value)' is not an AWS region",
                hint: "regions look like eu-west-1, us-east-2, ap-southeast-1")
            return nil
        }
        return r
    }

    func labels(_ f: YAMLFields) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in f.stringMap("labels") ?? [:] {
            if !KubernetesNames.isLabelKey(key) {
                source.collector.error(
                    "label", at: value.location, "\(f.path).labels: '\(key)' is not a valid label key",
                    hint: "an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.'")
            } else if !KubernetesNames.isLabelValue(value.value) {
                source.collector.error(
                    "label", at: value.location,
                    "\(f.path).labels.\(key): '\(value.value)' is not a valid label value",
                    hint: "up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
            } else {
                out[key] = value.value
            }
        }
        return out
    }

    func duration(_ text: Located<String>, what: String) -> Duration? {
        guard let d = DurationText.parse(text.value), d > .zero else {
            source.collector.error(
                "duration", at: text.location, "\(what) '\(text.value)' is not a duration",
                hint: "write e.g. 90s, 10m, 1h30m or 90d")
            return nil
        }
        return d
    }

    /// `{env: NAME}` or `{file: PATH}`; an inline string is refused without echoing it.
    func secretReference(_ node: Node, what: String) -> SecretReference? {
        guard case .mapping = node else {
            source.error(
                "inline-secret", at: node.mark, "\(what) must not be written in the inventory",
                hint: "name where it comes from instead: {env: VARIABLE} or {file: /path/to/file}")
            return nil
        }
        guard let f = YAMLFields(node, path: what, known: ["env", "file"], source: source) else { return nil }
        f.reportUnknownKeys()
        switch (f.string("env"), f.string("file")) {
        case (let env?, nil):
            guard ASCII.all(env.value, 1...Int.max, ASCII.isWord), !(env.value.utf8.first.map(ASCII.isDigit) ?? true)
            else {
                source.collector.error(
                    "secret-reference", at: env.location, "\(what): '\(env.value)' is not an environment variable name")
                return nil
            }
            return .environment(env.value)
        case (nil, let file?):
            guard !file.value.isEmpty else {
                source.collector.error(
                    "secret-reference", at: file.location, "\(what): file must name a file, found an empty path")
                return nil
            }
            return .file(file.value)
        default:
            source.error("secret-reference", at: node.mark, "\(what) needs exactly one of env or file")
            return nil
        }
    }
}
