// The inventory as written, before defaults and references are resolved: every value keeps its position.

struct InventoryDraft {
    var name: Located<String>?
    var defaults: DefaultsDraft?
    var accounts: [AccountDraft] = []
    var repositories: [RepositoryDraft] = []
    var identities: [IdentityDraft] = []
    var clusters: [ClusterDraft] = []
    var files: [String] = []
}

struct DefaultsDraft {
    var account: Located<String>?
    var region: Located<String>?
    var repository: Located<String>?
    var labels: [String: String] = [:]
    var flux: FluxDraft?
    var rollout: Rollout?
}

struct AccountDraft {
    var location: SourceLocation
    var name: Located<String>
    var id: Located<String>?
    var roleARN: Located<String>?
    var externalID: String?
    var sessionName: String?
    var durationSeconds: Int?
    var region: Located<String>?
}

struct RepositoryDraft {
    var location: SourceLocation
    var name: Located<String>
    var account: Located<String>?
    var region: Located<String>?
    var codecommit: Located<String>?
    var url: Located<String>?
    var endpoint: Located<String>?
    var branch: String?
    var transport: Located<GitTransport>?
    var identity: Located<String>?
    var username: Located<String>?
    var usernameReference: SecretReference?
    var password: SecretReference?
    var passwordLocation: SourceLocation?
}

struct IdentityDraft {
    var location: SourceLocation
    var name: Located<String>
    var account: Located<String>?
    var iamUser: Located<String>?
    var keyBits: Int?
    var passphrase: SecretReference?
    var maxKeyAge: Duration?
}

struct ClusterDraft {
    var location: SourceLocation
    var name: Located<String>
    var account: Located<String>?
    var region: Located<String>?
    var eksCluster: Located<String>?
    var kubeconfig: (context: String, path: String?)?
    var kubeconfigLocation: SourceLocation?
    var repository: Located<String>?
    var path: Located<String>?
    var labels: [String: String] = [:]
    var flux: FluxDraft?
}

/// Flux settings where each field may be unset, so that a cluster's layer can be laid over the defaults'.
struct FluxDraft {
    var version: Located<SemanticVersion>?
    var components: Located<[String]>?
    var componentsExtra: Located<[String]>?
    var manifests: FluxSettings.ManifestSource?
    var registry: String?
    var imagePullSecret: String?
    var networkPolicy: Bool?
    var clusterDomain: String?
    var tolerationKeys: [String]?
    var serviceAccountRoles: [String: String]?
    var sopsKMSKeyARN: String?
    var patches: [FluxSettings.Patch]?

    /// `self` over `base`: every field set here wins.
    func laid(over base: FluxDraft?) -> FluxDraft {
        guard let base else { return self }
        return FluxDraft(
            version: version ?? base.version,
            components: components ?? base.components,
            componentsExtra: componentsExtra ?? base.componentsExtra,
            manifests: manifests ?? base.manifests,
            registry: registry ?? base.registry,
            imagePullSecret: imagePullSecret ?? base.imagePullSecret,
            networkPolicy: networkPolicy ?? base.networkPolicy,
            clusterDomain: clusterDomain ?? base.clusterDomain,
            tolerationKeys: tolerationKeys ?? base.tolerationKeys,
            serviceAccountRoles: (base.serviceAccountRoles ?? [:]).merging(serviceAccountRoles ?? [:]) { $1 },
            sopsKMSKeyARN: sopsKMSKeyARN ?? base.sopsKMSKeyARN,
            patches: (base.patches ?? []) + (patches ?? []))
    }
}
