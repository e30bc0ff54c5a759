// What bootstrap found before changing anything (the cluster, IAM, the repository), and what it wants there: the
// planner's two inputs. Plain values: a table of them tests the planner without a lab.
import Inventory

public struct ClusterObservation: Sendable, Equatable {
    /// What `flux install` needs of the caller, asked as `kubectl auth can-i` asks.
    public struct Permission: Sendable, Equatable {
        public var verb: String
        public var group: String
        public var resource: String
        public var namespace: String?

        public init(_ verb: String, group: String, resource: String, namespace: String? = nil) {
            self.verb = verb
            self.group = group
            self.resource = resource
            self.namespace = namespace
        }

        /// Those `flux check --pre` and the install need: CRDs, Namespaces, ClusterRoleBindings, Secrets.
        public static let fluxInstall: [Permission] = [
            Permission("create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"),
            Permission("create", group: "", resource: "namespaces"),
            Permission("create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"),
            Permission("create", group: "", resource: "secrets", namespace: "flux-system"),
        ]
    }

    /// The API server, before anything is applied.
    public struct Cluster: Sendable, Equatable {
        public var kubernetes: (major: Int, minor: Int)
        /// The first of `Permission.fluxInstall` the caller may not do.
        public var refused: Permission?
        /// `app.kubernetes.io/managed-by` of Flux's GitRepository CRD, when it has one.
        public var fluxManager: String?
        /// Flux's GitRepository CRD is there.
        public var fluxInstalled: Bool
        /// Kustomization `flux-system` has applied a revision: Flux manages its own components from now on.
        public var componentsApplied: Bool

        public init(
            kubernetes: (major: Int, minor: Int), refused: Permission? = nil, fluxManager: String? = nil,
            fluxInstalled: Bool = false, componentsApplied: Bool = false
        ) {
            self.kubernetes = kubernetes
            self.refused = refused
            self.fluxManager = fluxManager
            self.fluxInstalled = fluxInstalled
            self.componentsApplied = componentsApplied
        }

        public static func == (a: Cluster, b: Cluster) -> Bool {
            a.kubernetes == b.kubernetes && a.refused == b.refused && a.fluxManager == b.fluxManager
                && a.fluxInstalled == b.fluxInstalled && a.componentsApplied == b.componentsApplied
        }
    }

    /// The SSH key the repository is reached with.
    public enum Key: Sendable, Equatable {
        /// HTTPS: no key.
        case notNeeded
        /// IAM has no key this state holds for the identity: one would be made.
        case missing(identity: String)
        /// A key this state holds, Active in IAM.
        case held(keyID: String)
    }

    /// Secret `flux-system` against the data it should hold.
    public enum Secret: Sendable, Equatable {
        /// IAM over HTTPS: the controller's role signs, no secret is written.
        case notNeeded
        case matches
        /// Absent, different, or not knowable yet (its key is still to be made).
        case differs
    }

    public var cluster: Cluster
    public var key: Key
    /// The files the branch does not hold yet; nil when the repository could not be read (no key yet).
    public var filesMissing: [String]?
    public var secret: Secret
    /// Sync objects the cluster does not hold as applied; nil when not looked at.
    public var syncObjectsStale: Int?

    public init(
        cluster: Cluster, key: Key = .notNeeded, filesMissing: [String]? = nil, secret: Secret = .differs,
        syncObjectsStale: Int? = nil
    ) {
        self.cluster = cluster
        self.key = key
        self.filesMissing = filesMissing
        self.secret = secret
        self.syncObjectsStale = syncObjectsStale
    }
}

/// What bootstrap wants a cluster to hold: the inventory's Flux, rendered.
public struct BootstrapDesired: Sendable, Equatable {
    /// The Flux release the inventory asks for.
    public var flux: SemanticVersion
    /// The release the component manifests are of.
    public var manifestsVersion: String
    /// The repository's files for the cluster (components, sync, kustomization).
    public var files: [String]
    public var componentObjects: Int
    public var syncObjects: Int

    public init(
        flux: SemanticVersion, manifestsVersion: String, files: [String], componentObjects: Int, syncObjects: Int
    ) {
        self.flux = flux
        self.manifestsVersion = manifestsVersion
        self.files = files
        self.componentObjects = componentObjects
        self.syncObjects = syncObjects
    }
}
