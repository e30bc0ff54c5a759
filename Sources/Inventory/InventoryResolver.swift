// Draft → Inventory: defaults applied, names unique, references resolved, URLs checked against CodeCommit's rules.
import FleetSupport

struct InventoryResolver {
    let draft: InventoryDraft
    let collector: DiagnosticCollector

    static let defaultSessionName = "fleetstrap"
    static let defaultKeyBits = 4096

    func resolve() -> Inventory {
        let accounts = resolveAccounts()
        let identities = resolveIdentities(accounts: accounts)
        let repositories = resolveRepositories(accounts: accounts, identities: identities)
        let clusters = resolveClusters(accounts: accounts, repositories: repositories)
        reportUnused(repositories: repositories, identities: identities, clusters: clusters)
        return Inventory(
            name: draft.name?.value, files: draft.files, accounts: accounts, repositories: repositories,
            identities: identities, clusters: clusters, rollout: draft.defaults?.rollout ?? .default)
    }

    // MARK: Sections

    func resolveAccounts() -> [Account] {
        unique(draft.accounts, kind: "account", name: \.name).compactMap { a in
            guard let id = a.id, AWSNames.isAccountID(id.value) else { return nil }
            return Account(
                name: a.name.value, id: id.value, roleARN: a.roleARN?.value, externalID: a.externalID,
                sessionName: a.sessionName ?? Self.defaultSessionName, durationSeconds: a.durationSeconds ?? 3600,
                region: a.region?.value ?? draft.defaults?.region?.value, location: a.location)
        }
    }

    func resolveIdentities(accounts: [Account]) -> [Identity] {
        unique(draft.identities, kind: "identity", name: \.name).compactMap { d in
            let account = reference(
                d.account, kind: "account", among: draft.accounts.map(\.name.value), from: "identity '\(d.name.value)'")
            guard let account, let passphrase = d.passphrase else { return nil }
            return Identity(
                name: d.name.value, account: account, iamUser: d.iamUser?.value ?? d.name.value,
                keyBits: d.keyBits ?? Self.defaultKeyBits, passphrase: passphrase, maxKeyAge: d.maxKeyAge,
                location: d.location)
        }
    }

    func resolveRepositories(accounts: [Account], identities: [Identity]) -> [Repository] {
        unique(draft.repositories, kind: "repository", name: \.name).compactMap { d in
            resolveRepository(d, accounts: accounts, identities: identities)
        }
    }

    func resolveRepository(_ d: RepositoryDraft, accounts: [Account], identities: [Identity]) -> Repository? {
        let what = "repository '\(d.name.value)'"
        var ok = true
        let accountName = reference(
            d.account ?? draft.defaults?.account, kind: "account", among: draft.accounts.map(\.name.value), from: what,
            requiredAt: d.location)
        let account = accountName.flatMap { name in accounts.first { $0.name == name } }

        // Where the repository is: a CodeCommit name, or a full URL.
        var parsed: CodeCommitURL?
        switch (d.codecommit, d.url) {
        case (nil, nil):
            collector.error(
                "repository-source", at: d.location, "\(what) needs codecommit (the repository name) or url",
                hint: "codecommit: my-repo, or url: ssh://git-codecommit.<region>.amazonaws.com/v1/repos/my-repo")
            ok = false
        case (_?, _?):
            collector.error(
                "repository-source", at: d.url!.location, "\(what) sets both codecommit and url; keep one",
                hint: "the URL already names the repository")
            ok = false
        case (nil, let url?):
            parsed = checkURL(url, repository: d, identities: identities)
            if parsed == nil { ok = false }
        case (_?, nil):
            break
        }

        // The transport: stated, or the URL's scheme, or SSH.
        let transport: GitTransport
        if let stated = d.transport?.value {
            transport = stated
            if let parsed, (parsed.scheme == .ssh) != (stated == .ssh) {
                collector.error(
                    "transport-url", at: d.transport!.location,
                    "\(what): transport is \(stated.rawValue) but the url is \(parsed.scheme.rawValue)://",
                    hint: stated == .ssh ? "use an ssh:// URL" : "use an https:// URL")
                ok = false
            }
        } else {
            let https = parsed.map { $0.scheme == .https } ?? (d.url?.value.lowercased().hasPrefix("https://") == true)
            transport = https ? .https : .ssh
        }

        // Region: stated, from the URL's host, the account's, or the defaults'.
        let urlRegion = parsed.flatMap { CodeCommitURL.region(ofHost: $0.host) }
        if let stated = d.region, let urlRegion, stated.value != urlRegion {
            collector.error(
                "region-url", at: stated.location,
                "\(what): region is \(stated.value) but the url's host is in \(urlRegion)")
            ok = false
        }
        let region = d.region?.value ?? urlRegion ?? account?.region ?? draft.defaults?.region?.value
        if region == nil, account != nil {
            collector.error(
                "region-missing", at: d.location, "\(what) has no region",
                hint: "set region here, on its account, or in defaults")
            ok = false
        }

        // The host: an endpoint override, the URL's, or CodeCommit's regional host.
        var host = parsed?.host ?? region.map { "git-codecommit.\($0).amazonaws.com" } ?? ""
        var port = parsed?.port
        if let endpoint = d.endpoint {
            if let (h, p) = parseEndpoint(endpoint.value) {
                (host, port) = (h, p)
            } else {
                collector.error(
                    "endpoint", at: endpoint.location, "\(what): endpoint '\(endpoint.value)' is not a host[:port]",
                    hint: "e.g. vpce-0123456789abcdef0-abcdefgh.git-codecommit.eu-west-1.vpce.amazonaws.com")
                ok = false
            }
        } else if let parsed, !CodeCommitURL.isCodeCommitHost(parsed.host) {
            collector.error(
                "codecommit-host", at: d.url!.location,
                "\(what): '\(parsed.host)' is not a CodeCommit host",
                hint:
                    "use git-codecommit.<region>.amazonaws.com, or set codecommit: <name> and endpoint: <host[:port]> "
                    + "for a VPC endpoint or a lab"
            )
            ok = false
        }

        // Credentials by transport.
        var identity: String?
        switch transport {
        case .ssh:
            if let ref = d.identity {
                identity = reference(ref, kind: "identity", among: draft.identities.map(\.name.value), from: what)
                if let id = identities.first(where: { $0.name == identity }), let accountName, id.account != accountName
                {
                    collector.error(
                        "identity-account", at: ref.location,
                        "\(what) is in account '\(accountName)' but identity '\(id.name)' is an IAM user of account "
                            + "'\(id.account)'",
                        hint: "CodeCommit accepts SSH keys only of IAM users in the repository's own account")
                    ok = false
                }
                if identity == nil { ok = false }
            } else {
                collector.error(
                    "identity-required", at: d.location, "\(what) uses SSH and needs an identity",
                    hint: "name the IAM user whose SSH key Flux uses: identity: <name from identities>")
                ok = false
            }
            for (key, value) in [("username", d.username?.location), ("password", d.passwordLocation)] {
                if let value {
                    collector.error(
                        "ssh-credentials", at: value, "\(what) uses SSH; \(key) is for transport https-token only")
                    ok = false
                }
            }
        case .https:
            let passwordLocation = d.password != nil ? d.passwordLocation : nil  // an inline one is reported already
            for (key, value) in [("username", d.username?.location), ("password", passwordLocation)] {
                if let value {
                    collector.error(
                        "https-credentials", at: value,
                        "\(what) uses HTTPS with IAM credentials and must not set \(key)",
                        hint:
                            "Git passwords are signed from IAM credentials per operation; for IAM HTTPS Git "
                            + "credentials use transport: https-token"
                    )
                    ok = false
                }
            }
        case .httpsToken:
            if d.username == nil {
                collector.error(
                    "https-token-credentials", at: d.location, "\(what) uses https-token and needs username",
                    hint: "the user name of the IAM user's HTTPS Git credentials (e.g. flux-at-123456789012)")
                ok = false
            }
            if d.password == nil, d.passwordLocation == nil {
                collector.error(
                    "https-token-credentials", at: d.location, "\(what) uses https-token and needs password",
                    hint: "password: {env: VARIABLE} or {file: /path}; never inline")
                ok = false
            }
        }
        if transport != .ssh, let ref = d.identity {
            collector.error(
                "identity-not-allowed", at: ref.location,
                "\(what) uses \(transport.rawValue); identity is for SSH repositories only")
            ok = false
        }

        guard ok, let accountName, let region else { return nil }
        return Repository(
            name: d.name.value, account: accountName, region: region,
            codecommitName: parsed?.repository ?? d.codecommit!.value, host: host, port: port,
            branch: d.branch ?? "main", transport: transport, identity: identity, pinnedKeyID: parsed?.user,
            username: d.usernameReference == nil ? d.username?.value : nil, usernameReference: d.usernameReference,
            password: d.password, location: d.location)
    }

    func resolveClusters(accounts: [Account], repositories: [Repository]) -> [Cluster] {
        let defaults = draft.defaults
        var claimed: [String: PathClaims] = [:]
        return unique(draft.clusters, kind: "cluster", name: \.name).compactMap { d in
            let what = "cluster '\(d.name.value)'"
            var ok = true
            let accountName = reference(
                d.account ?? defaults?.account, kind: "account", among: draft.accounts.map(\.name.value), from: what,
                requiredAt: d.location)
            let account = accounts.first { $0.name == accountName }
            let region = d.region?.value ?? account?.region ?? defaults?.region?.value
            if region == nil, account != nil {
                collector.error(
                    "region-missing", at: d.location, "\(what) has no region",
                    hint: "set region here, on its account, or in defaults")
                ok = false
            }
            let repositoryName = reference(
                d.repository ?? defaults?.repository, kind: "repository", among: draft.repositories.map(\.name.value),
                from: what, requiredAt: d.location)
            let repository = repositories.first { $0.name == repositoryName }

            // Access: EKS (default) or a kubeconfig context.
            let access: ClusterAccess
            if let kube = d.kubeconfig {
                if let eks = d.eksCluster {
                    collector.error(
                        "access", at: eks.location, "\(what) sets both eksCluster and kubeconfig; keep one",
                        hint: "kubeconfig replaces EKS discovery for clusters reached another way")
                    ok = false
                }
                access = .kubeconfig(context: kube.context, path: kube.path)
            } else {
                let eksName = d.eksCluster ?? d.name
                if !AWSNames.isEKSClusterName(eksName.value) {
                    collector.error(
                        "eks-cluster-name", at: eksName.location,
                        "\(what): '\(eksName.value)' is not an EKS cluster name",
                        hint:
                            "1 to 100 letters, digits, '-' or '_', starting with a letter or digit; set eksCluster: "
                            + "if it differs from name"
                    )
                    ok = false
                }
                access = .eks(clusterName: eksName.value)
            }

            // Path in the repository.
            let path = normalizedPath(d.path, default: "clusters/\(d.name.value)", what: what)
            if path == nil { ok = false }
            if let path, let repositoryName {
                for other in claimed[repositoryName, default: PathClaims()].conflicts(with: path) {
                    collector.error(
                        "path-conflict", at: d.path?.location ?? d.location,
                        "\(what) and cluster '\(other.cluster)' (\(other.location)) share '\(other.path)' in "
                            + "repository '\(repositoryName)'",
                        hint: "each cluster needs its own directory, not nested in another's")
                    ok = false
                }
                claimed[repositoryName, default: PathClaims()].claim(
                    path, cluster: d.name.value, location: d.path?.location ?? d.location)
            }

            let flux = resolveFlux(
                d.flux?.laid(over: defaults?.flux) ?? defaults?.flux, cluster: d, repository: repository)
            if flux == nil { ok = false }

            guard ok, let accountName, let region, let repository, let path, let flux else { return nil }
            return Cluster(
                name: d.name.value, account: accountName, region: region, access: access, repository: repository.name,
                path: path, labels: (defaults?.labels ?? [:]).merging(d.labels) { $1 }, flux: flux,
                location: d.location)
        }
    }

    func resolveFlux(_ draft: FluxDraft?, cluster: ClusterDraft, repository: Repository?) -> FluxSettings? {
        let what = "cluster '\(cluster.name.value)'"
        guard let version = draft?.version else {
            collector.error(
                "flux-version-missing", at: cluster.location, "\(what) has no Flux version",
                hint: "set flux.version in defaults (or on the cluster), e.g. 2.4.0")
            return nil
        }
        if repository?.transport == .https, version.value < FluxSettings.firstVersionWithAWSGitProvider {
            collector.error(
                "flux-https-provider", at: version.location,
                "\(what) uses repository '\(repository!.name)' over HTTPS with IAM, which needs Flux 2.9.0 or later "
                    + "(provider: aws); this is \(version.value)",
                hint: "raise flux.version, or use transport ssh or https-token for this repository")
            return nil
        }
        let d = draft!
        return FluxSettings(
            version: version.value,
            components: d.components?.value ?? FluxSettings.defaultComponents,
            componentsExtra: d.componentsExtra?.value ?? [],
            manifests: d.manifests,
            registry: d.registry,
            imagePullSecret: d.imagePullSecret,
            networkPolicy: d.networkPolicy ?? true,
            clusterDomain: d.clusterDomain ?? "cluster.local",
            tolerationKeys: d.tolerationKeys ?? [],
            serviceAccountRoles: d.serviceAccountRoles ?? [:],
            sopsKMSKeyARN: d.sopsKMSKeyARN,
            patches: d.patches ?? [])
    }

    /// `clusters/x`, from `./clusters/x/` or the default; nil (with a diagnostic) when absolute or escaping.
    func normalizedPath(_ path: Located<String>?, default fallback: String, what: String) -> String? {
        guard let path else { return fallback }
        if let problem = RepositoryPath.problem(path.value) {
            collector.error(
                "path", at: path.location, "\(what): path '\(RepositoryPath.visible(path.value))' \(problem)",
                hint:
                    "a folder of letters, digits, spaces and punctuation, relative to the repository root, e.g. "
                    + "clusters/prod-eu-1"
            )
            return nil
        }
        var text = Substring(path.value)
        if text.hasPrefix("/") {
            collector.error(
                "path", at: path.location, "\(what): path '\(path.value)' is absolute",
                hint: "paths are relative to the repository root, e.g. clusters/prod-eu-1")
            return nil
        }
        while text.hasPrefix("./") { text = text.dropFirst(2) }
        while text.hasSuffix("/") { text = text.dropLast() }
        let segments = text.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains("..") {
            collector.error(
                "path", at: path.location, "\(what): path '\(path.value)' leaves the repository with '..'",
                hint: "paths are relative to the repository root, e.g. clusters/prod-eu-1")
            return nil
        }
        if text.isEmpty || segments.contains(where: { $0.isEmpty || $0 == "." }) {
            collector.error(
                "path", at: path.location,
                "\(what): path '\(path.value)' must name a directory below the repository root",
                hint: "e.g. clusters/prod-eu-1")
            return nil
        }
        return String(text)
    }

    func reportUnused(repositories: [Repository], identities: [Identity], clusters: [Cluster]) {
        guard collector.diagnostics.allSatisfy({ $0.severity != .error }) else { return }
        let usedRepositories = Set(clusters.map(\.repository))
        for r in repositories where !usedRepositories.contains(r.name) {
            collector.warning("unused", at: r.location, "repository '\(r.name)' is not used by any cluster")
        }
        let usedIdentities = Set(repositories.compactMap(\.identity))
        for i in identities where !usedIdentities.contains(i.name) {
            collector.warning("unused", at: i.location, "identity '\(i.name)' is not used by any repository")
        }
    }

    // MARK: Names and references

    /// Drops later entries whose name repeats an earlier one, with an error pointing at both.
    func unique<T>(_ items: [T], kind: String, name: KeyPath<T, Located<String>>) -> [T] {
        var seen: [String: SourceLocation] = [:]
        // Names equal but for case collide in folders on case-insensitive checkouts (macOS, Windows) and in reports.
        var folded: [String: Located<String>] = [:]
        return items.filter { item in
            let n = item[keyPath: name]
            if let first = seen[n.value] {
                collector.error(
                    "duplicate-name", at: n.location, "duplicate \(kind) name '\(n.value)'",
                    hint: "first defined at \(first); \(kind) names must be unique")
                return false
            }
            if let other = folded[n.value.lowercased()] {
                collector.error(
                    "duplicate-name", at: n.location,
                    "\(kind) name '\(n.value)' differs from '\(other.value)' only in case",
                    hint: "'\(other.value)' is defined at \(other.location); names that differ only in case collide in "
                        + "folders on macOS and Windows checkouts and in reports")
                return false
            }
            seen[n.value] = n.location
            folded[n.value.lowercased()] = n
            return true
        }
    }

    /// Resolves a reference by name, reporting an unknown name with a suggestion, or a missing one.
    func reference(
        _ ref: Located<String>?, kind: String, among names: [String], from what: String,
        requiredAt required: SourceLocation? = nil
    ) -> String? {
        guard let ref else {
            if let required {
                collector.error(
                    "required", at: required, "\(what) has no \(kind)",
                    hint: "set \(kind): here or in defaults")
            }
            return nil
        }
        guard names.contains(ref.value) else {
            let suggestion = Suggestion.closest(to: ref.value, in: names)
            collector.error(
                "unknown-reference", at: ref.location,
                "\(what) refers to unknown \(kind) '\(ref.value)'"
                    + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                hint: names.isEmpty
                    ? "no \(kind) is defined" : "defined: \(Set(names).sorted().joined(separator: ", "))")
            return nil
        }
        return ref.value
    }
}
