// Bootstrap's decisions, with no I/O: whether a cluster may be bootstrapped (as `flux check --pre` and
// `flux bootstrap` refuse), and which changes bring it to what the inventory asks for. `plan` prints them; a run
// takes the same decisions on what it observed.
import Inventory

public enum BootstrapPlanner {
    /// The changes that bring the observed cluster, IAM and repository to `desired`, in the order a run makes them;
    /// empty when there is nothing to do. Throws the refusal a run would stop the cluster with.
    public static func plan(_ observation: ClusterObservation, _ desired: BootstrapDesired) throws(FleetFailure)
        -> [ClusterAction]
    {
        try preflight(observation.cluster, flux: desired.flux)
        try checkManifests(version: desired.manifestsVersion, flux: desired.flux)
        var actions: [ClusterAction] = []
        if case .missing(let identity) = observation.key { actions.append(.uploadKey(identity: identity)) }
        let files = observation.filesMissing ?? desired.files
        if !files.isEmpty { actions.append(.commit(files: files)) }
        if appliesComponents(observation.cluster) {
            actions.append(.applyComponents(objects: desired.componentObjects))
        }
        if observation.secret == .differs { actions.append(.writeSecret) }
        let stale = observation.syncObjectsStale ?? desired.syncObjects
        if stale > 0 { actions.append(.applySync(objects: stale)) }
        return actions
    }

    /// Refuses a cluster Flux cannot run on, the caller cannot install on, or another tool manages Flux on.
    public static func preflight(_ cluster: ClusterObservation.Cluster, flux: SemanticVersion) throws(FleetFailure) {
        let minimum = minimumKubernetesMinor(flux: flux)
        let (major, minor) = cluster.kubernetes
        guard major > 1 || minor >= minimum else {
            throw FleetFailure(
                "Kubernetes \(major).\(minor) is older than Flux \(flux) supports (>= 1.\(minimum), as flux check "
                    + "--pre requires)",
                errorClass: "preflight.kubernetes-version")
        }
        if let refused = cluster.refused {
            let scope = refused.namespace.map { " in \($0)" } ?? ""
            throw FleetFailure(
                "the role may not \(refused.verb) \(refused.resource)\(scope): installing Flux needs cluster-admin "
                    + "(an EKS access entry with AmazonEKSClusterAdminPolicy)",
                errorClass: "preflight.permissions")
        }
        if let manager = cluster.fluxManager, !manager.isEmpty, manager != "flux" {
            throw FleetFailure(
                "Flux on this cluster is managed by '\(manager)', not by flux: refusing to take it over",
                errorClass: "preflight.managed")
        }
    }

    /// Refuses component manifests of another release than the inventory's.
    public static func checkManifests(version: String, flux: SemanticVersion) throws(FleetFailure) {
        guard version == flux.description else {
            throw FleetFailure(
                "the component manifests are Flux \(version), the inventory asks for \(flux): give the manifests of "
                    + "that version",
                errorClass: "flux.version")
        }
    }

    /// Flux's components are applied by bootstrap only until Flux has applied them itself (as `flux bootstrap`).
    public static func appliesComponents(_ cluster: ClusterObservation.Cluster) -> Bool {
        !cluster.componentsApplied
    }

    /// The oldest Kubernetes minor (1.x) a Flux release supports, as `flux check --pre` constrains it (flux2's
    /// `cmd/flux/check.go`: 2.2: 1.26; 2.3 and 2.4: 1.28; 2.5: 1.30; 2.6: 1.31; 2.7: 1.32; 2.8 and 2.9: 1.33).
    public static func minimumKubernetesMinor(flux: SemanticVersion) -> Int {
        if flux >= SemanticVersion(2, 8, 0) { return 33 }
        if flux >= SemanticVersion(2, 7, 0) { return 32 }
        if flux >= SemanticVersion(2, 6, 0) { return 31 }
        if flux >= SemanticVersion(2, 5, 0) { return 30 }
        if flux >= SemanticVersion(2, 3, 0) { return 28 }
        return 26
    }
}
