// What a cluster's bootstrap reads: the API server before anything is changed, the secret and sync objects against
// what they should be, the repository's writer, and the wait for Flux to reconcile what was pushed.
import FleetSupport
import Flux
import Foundation
import Git
import Inventory
import Kube

extension ClusterPipeline {
    /// The API server's version, the caller's permissions and the Flux already there, in one round trip.
    static func observeCluster(_ kube: KubeClient) async throws -> ClusterObservation.Cluster {
        let needs = ClusterObservation.Permission.fluxInstall
        async let version = kube.serverVersion()
        async let allowed = boundedTryMap(Array(needs.indices), limit: needs.count) { index in
            try await kube.canI(
                needs[index].verb, group: needs[index].group, resource: needs[index].resource,
                namespace: needs[index].namespace)
        }
        async let crdLook = kube.get(
            apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespace: nil,
            name: "gitrepositories.source.toolkit.fluxcd.io")
        async let kustomizationLook = try? kube.get(
            apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
            name: "flux-system")
        let server = try await version
        let refused = try await zip(needs, allowed).first { !$0.1 }?.0
        let crd = try await crdLook
        let kustomization = await kustomizationLook
        let applied = kustomization?[path: "status.lastAppliedRevision"]?.string ?? ""
        return ClusterObservation.Cluster(
            kubernetes: (server.major, server.minor), refused: refused,
            fluxManager: crd?[path: "metadata.labels"]?["app.kubernetes.io/managed-by"]?.string,
            fluxInstalled: crd != nil, componentsApplied: crd != nil && !applied.isEmpty)
    }

    /// Secret `flux-system` against `wanted` (its data, not yet base64).
    static func secretState(_ kube: KubeClient, wanted: [String: String]) async throws -> ClusterObservation.Secret {
        let existing = try await kube.get(
            apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
        let encoded = wanted.mapValues { JSONValue.string(Data($0.utf8).base64EncodedString()) }
        return existing?["data"] == .object(encoded) ? .matches : .differs
    }

    /// How many of `objects` the cluster does not hold as applied.
    static func staleObjects(_ kube: KubeClient, _ objects: [JSONValue]) async throws -> Int {
        var count = 0
        for object in objects {
            let live = try? await kube.get(
                apiVersion: object["apiVersion"]?.string ?? "", kind: object["kind"]?.string ?? "",
                namespace: "flux-system", name: "flux-system")
            if live.flatMap({ $0 }).map({ !KubeClient.holdsApplied($0, object) }) ?? true { count += 1 }
        }
        return count
    }

    /// The writer of `repository`'s branch, shared by the clusters that reach it the same way.
    func writer(_ repository: Repository, key: SSHKeyMaterial?, url: String) async throws -> RepositoryWriter {
        let credentials = try await context.credentials(account: repository.account, region: repository.region)
        let remote = GitRemote(
            url: url, authentication: try authentication(repository, key: key, credentials: credentials),
            trust: GitTrust(caPEM: context.caBundle, hostKeys: context.hostKeys))
        return try await context.writers.writer(
            key: WriterKey(repository: repository, keyID: key?.keyID), remote: remote, branch: repository.branch)
    }

    /// Asks Flux to reconcile now and waits until the source, the Kustomization and the controllers are Ready at
    /// `pushed` (or a later revision that carries it); answers the revision the source reports.
    func waitReady(_ kube: KubeClient, writer: RepositoryWriter, pushed: String?, components: [String]) async throws
        -> String?
    {
        // Other clusters' commits may land after ours on a shared branch: a revision after ours carries ours too.
        let pushedID = pushed.flatMap { ObjectID(hex: String($0.suffix(40))) }
        let accepts: @Sendable (String) async -> Bool = { seen in
            guard let pushedID, let candidate = ObjectID(hex: String(seen.suffix(40))) else { return false }
            return (try? await writer.contains(candidate, ancestor: pushedID)) ?? false
        }
        let requested = try await kube.requestReconcile(
            apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
            name: "flux-system")
        let settings = context.wait
        let source = try await kube.waitReady(
            apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
            name: "flux-system", revision: pushed, requestedAt: requested, accepts: accepts, settings: settings)
        // With the source Ready the controllers are up and the Kustomization usually applied: both looked at
        // together, one round trip where two followed each other (watching all three from the start polled the
        // Kustomization and the Deployments all along: more requests, and more CPU for 1,000 clusters at once).
        async let kustomization = kube.waitReady(
            apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
            name: "flux-system", revision: pushed, accepts: accepts, settings: settings)
        async let controllers: Void = kube.waitAvailable(
            namespace: "flux-system", deployments: components, settings: settings)
        _ = try await kustomization
        try await controllers
        return source[path: "status.artifact.revision"]?.string ?? pushed
    }
}
