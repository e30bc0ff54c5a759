// One cluster's bootstrap, step by step, as `flux bootstrap git` does it: credentials, DescribeCluster, preflight,
// an SSH key if needed, the repository's files (through the repository's writer), components (only when Flux would
// apply them), the secret, the sync manifests, then wait for Ready at the pushed revision. Every step is journaled
// in the ledger before and after it runs. In a dry run the same steps find out what they would do, and do nothing.
import AWS
import FleetCrypto
import FleetSupport
import Flux
import Foundation
import Git
import Inventory
import Kube
import Ledger

public enum BootstrapStep: String, Sendable, CaseIterable {
    case credentials, describe, preflight, key, commit, components, secret, sync, wait
}

/// What a dry run found a cluster needs (the plan), or what a run did.
public struct ClusterActions: Sendable, Equatable, Codable {
    public var uploadKey = false
    public var commitFiles: [String] = []
    public var applyComponents = 0
    public var writeSecret = false
    public var applySync = 0
    public var nothingToDo: Bool { !uploadKey && commitFiles.isEmpty && applyComponents == 0 && !writeSecret && applySync == 0 }
}

public struct ClusterOutcome: Sendable {
    public var cluster: String
    public var succeeded: Bool
    public var revision: String?
    public var keyID: String?
    public var actions = ClusterActions()
    public var error: (any Error)?
    public var errorClass: String? { error.map { ($0 as? any FleetError)?.errorClass ?? String(describing: type(of: $0)) } }
}

struct ClusterPipeline {
    let context: FleetContext
    let cluster: Cluster
    let runID: String
    let dryRun: Bool
    /// Told of each finished step: its name and how long it took.
    let progress: @Sendable (String, Int) -> Void

    func run() async -> ClusterOutcome {
        var outcome = ClusterOutcome(cluster: cluster.name, succeeded: false)
        do {
            try await bootstrap(&outcome)
            outcome.succeeded = true
        } catch {
            outcome.error = error
        }
        return outcome
    }

    private func step<T>(_ step: BootstrapStep, _ body: () async throws -> T) async throws -> T {
        try await StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name, progress: progress).step(step.rawValue, body)
    }

    private func bootstrap(_ outcome: inout ClusterOutcome) async throws {
        let inventory = context.inventory
        guard let repository = inventory.repository(named: cluster.repository) else { throw FleetFailure("no repository \(cluster.repository)") }
        let credentials = try await step(.credentials) { try await context.credentials(account: cluster.account, region: cluster.region) }
        let kube = try await step(.describe) { try await context.kubeClient(for: cluster, credentials: credentials) }
        // Preflight: reachable, and an existing Flux is one Flux manages; whether the components were ever applied.
        // Every look at once: one round trip.
        let preflight = try await step(.preflight) { () -> (fluxFound: Bool, componentsApplied: Bool) in
            async let version = kube.serverVersion()
            // What Flux's install needs of the caller, asked as kubectl auth can-i asks.
            let needs: [(verb: String, group: String, resource: String, namespace: String?)] = [
                ("create", "apiextensions.k8s.io", "customresourcedefinitions", nil), ("create", "", "namespaces", nil),
                ("create", "rbac.authorization.k8s.io", "clusterrolebindings", nil), ("create", "", "secrets", "flux-system"),
            ]
            async let allowed = boundedTryMap(needs.indices.map { $0 }, limit: needs.count) { index in
                try await kube.canI(needs[index].verb, group: needs[index].group, resource: needs[index].resource, namespace: needs[index].namespace)
            }
            async let crdLook = kube.get(
                apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespace: nil, name: "gitrepositories.source.toolkit.fluxcd.io")
            async let kustomizationLook = try? kube.get(
                apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system", name: "flux-system")
            let server = try await version
            let minimum = Self.minimumKubernetesMinor(flux: cluster.flux.version)
            guard server.major > 1 || server.minor >= minimum else {
                throw FleetFailure(
                    "Kubernetes \(server.major).\(server.minor) is older than Flux \(cluster.flux.version) supports (>= 1.\(minimum), as flux check --pre requires)",
                    errorClass: "preflight.kubernetes-version")
            }
            if let refused = try await zip(needs, allowed).first(where: { !$0.1 })?.0 {
                throw FleetFailure(
                    "the role may not \(refused.verb) \(refused.resource)\(refused.namespace.map { " in \($0)" } ?? ""): installing Flux needs cluster-admin (an EKS access entry with AmazonEKSClusterAdminPolicy)",
                    errorClass: "preflight.permissions")
            }
            let crd = try await crdLook
            if let manager = crd?[path: "metadata.labels"]?["app.kubernetes.io/managed-by"]?.string, !manager.isEmpty, manager != "flux" {
                throw FleetFailure("Flux on this cluster is managed by '\(manager)', not by flux: refusing to take it over", errorClass: "preflight.managed")
            }
            let kustomization = await kustomizationLook
            guard crd != nil else { return (false, false) }
            return (true, !(kustomization?[path: "status.lastAppliedRevision"]?.string ?? "").isEmpty)
        }
        let componentsApplied = preflight.componentsApplied

        // The repository's remote, as fleetstrap and as Flux reach it.
        var key: SSHKeyMaterial?
        if repository.transport == .ssh {
            guard let identityName = repository.identity, let identity = inventory.identity(named: identityName),
                let account = inventory.account(named: identity.account)
            else { throw FleetFailure("repository \(repository.name) has no SSH identity") }
            key = try await step(.key) {
                let iamCredentials = try await context.credentials(account: identity.account, region: repository.region)
                let iam = IAMClient(client: context.aws)
                if dryRun { return try await context.keys.existingKey(for: identity, accountID: account.id, iam: iam, credentials: iamCredentials) }
                return try await context.keys.key(for: identity, accountID: account.id, iam: iam, credentials: iamCredentials, runID: runID)
            }
            outcome.keyID = key?.keyID
            if key == nil || key?.created == true { outcome.actions.uploadKey = true }
            if key == nil {
                // A dry run without a key cannot read the repository over SSH: everything would be written.
                outcome.actions.commitFiles = ["\(cluster.path)/flux-system/*"]
                outcome.actions.writeSecret = true
                outcome.actions.applySync = 2
                if !componentsApplied { outcome.actions.applyComponents = -1 }
                return
            }
        }
        let repoCredentials = try await context.credentials(account: repository.account, region: repository.region)
        let url = repository.url(sshUser: key?.keyID)
        let remote = GitRemote(url: url, authentication: try authentication(repository, key: key, credentials: repoCredentials), trust: GitTrust(caPEM: context.caBundle, hostKeys: context.hostKeys))
        let writer = try await context.writers.writer(key: "\(repository.account)-\(repository.name)-\(key?.keyID ?? repository.transport.rawValue)", remote: remote, branch: repository.branch)

        // Files: components, sync, kustomization (kept when the user has one).
        let flux = cluster.flux
        let manifests = try await context.manifests.manifests(Self.source(flux))
        guard manifests.version == flux.version.description else {
            throw FleetFailure(
                "the component manifests are Flux \(manifests.version), the inventory asks for \(flux.version): give the manifests of that version",
                errorClass: "flux.version")
        }
        var install = InstallOptions(components: flux.allComponents)
        install.registry = flux.registry
        install.imagePullSecret = flux.imagePullSecret
        install.networkPolicy = flux.networkPolicy
        install.clusterDomain = flux.clusterDomain
        install.tolerationKeys = flux.tolerationKeys
        let components = try await context.renders.render(manifests, install)
        let syncText = SyncManifests.render(Self.syncSettings(cluster, repository, url: url))
        let folder = "\(cluster.path)/flux-system"
        let changes: [RepositoryWriter.Change] = [
            .init(path: "\(folder)/gotk-components.yaml", content: components.bytes, digest: components.digest), .write("\(folder)/gotk-sync.yaml", syncText),
            .create("\(folder)/kustomization.yaml", SyncManifests.kustomization(patches: Self.patches(flux))),
        ]
        if dryRun {
            outcome.actions.commitFiles = try await step(.commit) { try await writer.preview(changes) }
        } else {
            let receipt = try await step(.commit) {
                try await writer.submit(cluster: cluster.name, directory: cluster.path, changes: changes, message: "Add Flux \(manifests.version) component manifests")
            }
            outcome.revision = "\(repository.branch)@sha1:\(receipt.commit.hex)"
            if receipt.changed { outcome.actions.commitFiles = changes.map(\.path) }
        }

        // Cluster side, in Flux's order.
        if !componentsApplied {
            // Flux builds kustomization.yaml on first install, so its patches count from the start: the IRSA
            // annotations go on the controllers' service accounts as they are applied.
            let objects = Self.annotated(try await context.renders.objects(components), roles: flux.serviceAccountRoles)
            outcome.actions.applyComponents = try await step(.components) {
                // No Flux CRD at all: nothing of Flux's is there to compare with, every object is sent.
                dryRun ? objects.count : try await kube.applyAll(objects, readFirst: preflight.fluxFound).applied.count
            }
        }
        if let data = try secretData(repository, key: key, url: url) {
            outcome.actions.writeSecret = try await step(.secret) { () -> Bool in
                let existing = try await kube.get(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
                let wanted = data.mapValues { JSONValue.string(Data($0.utf8).base64EncodedString()) }
                if existing?["data"] == .object(wanted) { return false }
                if !dryRun { try await kube.createOrUpdateSecret(namespace: "flux-system", name: "flux-system", data: data) }
                return true
            }
        }
        let syncObjects = SyncManifests.objects(Self.syncSettings(cluster, repository, url: url))
        outcome.actions.applySync = try await step(.sync) {
            if dryRun {
                var count = 0
                for object in syncObjects {
                    let live = try? await kube.get(apiVersion: object["apiVersion"]?.string ?? "", kind: object["kind"]?.string ?? "", namespace: "flux-system", name: "flux-system")
                    if live.flatMap({ $0 }).map({ !KubeClient.holdsApplied($0, object) }) ?? true { count += 1 }
                }
                return count
            }
            return try await kube.applyAll(syncObjects).applied.count
        }
        if dryRun { return }
        try await step(.wait) {
            let revision = outcome.revision
            // Other clusters' commits may land after ours on a shared branch: a revision after ours carries ours too.
            let pushed = revision.flatMap { ObjectID(hex: String($0.suffix(40))) }
            let accepts: @Sendable (String) async -> Bool = { seen in
                guard let pushed, let candidate = ObjectID(hex: String(seen.suffix(40))) else { return false }
                return (try? await writer.contains(candidate, ancestor: pushed)) ?? false
            }
            let requested = try await kube.requestReconcile(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system", name: "flux-system")
            let settings = context.wait, components = install.components
            let source = try await kube.waitReady(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system", name: "flux-system", revision: revision, requestedAt: requested, accepts: accepts, settings: settings)
            outcome.revision = source[path: "status.artifact.revision"]?.string ?? revision
            // With the source Ready the controllers are up and the Kustomization usually applied: both looked at
            // together, one round trip where two followed each other (watching all three from the start polled the
            // Kustomization and the Deployments all along: more requests, and more CPU for 1,000 clusters at once).
            async let kustomization = kube.waitReady(apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system", name: "flux-system", revision: revision, accepts: accepts, settings: settings)
            async let controllers: Void = kube.waitAvailable(namespace: "flux-system", deployments: components, settings: settings)
            _ = try await kustomization
            try await controllers
        }
    }

    private func authentication(_ repository: Repository, key: SSHKeyMaterial?, credentials: any CredentialProvider) throws -> GitAuthentication {
        switch repository.transport {
        case .ssh:
            guard let key else { throw FleetFailure("no SSH key for repository \(repository.name)") }
            return .sshKey(privateKeyPEM: key.privateKeyPEM, passphrase: key.passphrase)
        case .https:
            return .codeCommitIAM(credentials: credentials, region: repository.region)
        case .httpsToken:
            guard let username = try repository.gitUsername(environment: context.environment), let password = repository.password else {
                throw FleetFailure("repository \(repository.name): https-token needs username and password")
            }
            return .basic(username: username, password: try password.resolve(environment: context.environment))
        }
    }

    /// Secret `flux-system`'s data, per transport; nil for IAM over HTTPS (the controller's role signs).
    private func secretData(_ repository: Repository, key: SSHKeyMaterial?, url: String) throws -> [String: String]? {
        switch repository.transport {
        case .ssh:
            guard let key, let parts = GitURL.parts(url) else { return nil }
            guard let knownHosts = context.hostKeys.knownHostsLine(host: parts.host, port: parts.port) else {
                throw FleetFailure("no host key pinned for \(parts.host): the repository was not reached over SSH")
            }
            return SecretData.ssh(privateKeyPEM: key.privateKeyPEM.reveal(), publicKey: key.publicKey, knownHosts: knownHosts, passphrase: key.passphrase.reveal())
        case .https:
            return nil
        case .httpsToken:
            guard let username = try repository.gitUsername(environment: context.environment), let password = repository.password else { return nil }
            return SecretData.basic(username: username, password: try password.resolve(environment: context.environment).reveal())
        }
    }

    /// gotk-sync.yaml's settings for `cluster` reaching `repository` at `url`.
    static func syncSettings(_ cluster: Cluster, _ repository: Repository, url: String) -> SyncSettings {
        SyncSettings(url: url, branch: repository.branch, path: cluster.path, provider: repository.transport == .https ? "aws" : nil)
    }

    /// The oldest Kubernetes minor (1.x) a Flux release supports, as `flux check --pre` constrains it.
    static func minimumKubernetesMinor(flux: SemanticVersion) -> Int {
        if flux >= SemanticVersion(2, 9, 0) { return 34 }
        if flux >= SemanticVersion(2, 3, 0) { return 28 }
        return 26
    }

    static func source(_ flux: FluxSettings) -> ManifestSource {
        switch flux.manifests {
        case .url(let url, let sha)?: .url(url, sha256: sha)
        case .path(let path, let sha)?: .path(path, sha256: sha)
        case nil: .release(flux.version.description)
        }
    }

    /// The controllers' ServiceAccounts with their `eks.amazonaws.com/role-arn`, as the kustomization's patches make them.
    /// The objects with each IRSA role on its controller's ServiceAccount (only those re-encoded).
    static func annotated(_ objects: [EncodedObject], roles: [String: String]) -> [EncodedObject] {
        guard !roles.isEmpty else { return objects }
        return objects.map { encoded in
            let object = encoded.object
            guard object["kind"]?.string == "ServiceAccount", let name = object[path: "metadata.name"]?.string, let role = roles[name] else { return encoded }
            var copy = object
            var annotations = copy[path: "metadata.annotations"]?.object ?? [:]
            annotations["eks.amazonaws.com/role-arn"] = .string(role)
            copy["metadata"]?["annotations"] = .object(annotations)
            return EncodedObject(copy)
        }
    }

    static func patches(_ flux: FluxSettings) -> [SyncManifests.Patch] {
        var patches = flux.serviceAccountRoles.sorted { $0.key < $1.key }.map { SyncManifests.serviceAccountRole(controller: $0.key, roleARN: $0.value) }
        if flux.sopsKMSKeyARN != nil { patches.append(SyncManifests.sopsDecryption) }
        patches += flux.patches.map { SyncManifests.Patch(patch: $0.patch, target: $0.target) }
        return patches
    }
}
