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

public struct ClusterOutcome: Sendable {
    public var cluster: String
    public var succeeded: Bool
    public var revision: String?
    public var keyID: String?
    /// A dry run: the plan. A run: the changes it made.
    public var actions: [ClusterAction] = []
    public var error: (any Error)?
    public var errorClass: String? {
        error.map { ($0 as? any FleetError)?.errorClass ?? String(describing: type(of: $0)) }
    }
}

/// One cluster through observe → plan → apply. A dry run observes everything and hands the observation to
/// `BootstrapPlanner.plan`; a run observes the cluster, takes the planner's decisions on it, and makes each change
/// through an idempotent step (a commit the branch already holds is not made again).
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

    func step<T>(_ step: BootstrapStep, _ body: () async throws -> T) async throws -> T {
        try await StepJournal(ledger: context.ledger, runID: runID, cluster: cluster.name, progress: progress).step(
            step, body)
    }

    private func bootstrap(_ outcome: inout ClusterOutcome) async throws {
        let inventory = context.inventory
        guard let repository = inventory.repository(named: cluster.repository) else {
            throw FleetFailure("no repository \(cluster.repository)")
        }
        let credentials = try await step(.credentials) {
            try await context.credentials(account: cluster.account, region: cluster.region)
        }
        let kube = try await step(.describe) { try await context.kubeClient(for: cluster, credentials: credentials) }
        let observed = try await step(.preflight) {
            let observed = try await Self.observeCluster(kube)
            try BootstrapPlanner.preflight(observed, flux: cluster.flux.version)
            return observed
        }

        // The key the repository is reached with: found (a dry run) or made if missing (a run).
        var key: SSHKeyMaterial?
        var keyState = ClusterObservation.Key.notNeeded
        if repository.transport == .ssh {
            guard let identityName = repository.identity, let identity = inventory.identity(named: identityName),
                let account = inventory.account(named: identity.account)
            else { throw FleetFailure("repository \(repository.name) has no SSH identity") }
            key = try await step(.key) {
                let iamCredentials = try await context.credentials(account: identity.account, region: repository.region)
                let iam = IAMClient(client: context.aws)
                if dryRun {
                    return try await context.keys.existingKey(
                        for: identity, accountID: account.id, iam: iam, credentials: iamCredentials)
                }
                return try await context.keys.key(
                    for: identity, accountID: account.id, iam: iam, credentials: iamCredentials, runID: runID)
            }
            outcome.keyID = key?.keyID
            keyState = key.map { .held(keyID: $0.keyID) } ?? .missing(identity: identityName)
            if key?.created == true { outcome.actions.append(.uploadKey(identity: identityName)) }
        }

        // What the cluster should hold: components, sync, kustomization (kept when the user has one).
        let flux = cluster.flux
        let manifests = try await context.manifests.manifests(Self.source(flux))
        try BootstrapPlanner.checkManifests(version: manifests.version, flux: flux.version)
        var install = InstallOptions(components: flux.allComponents)
        install.registry = flux.registry
        install.imagePullSecret = flux.imagePullSecret
        install.networkPolicy = flux.networkPolicy
        install.clusterDomain = flux.clusterDomain
        install.tolerationKeys = flux.tolerationKeys
        let components = try await context.renders.render(manifests, install)
        let url = repository.url(sshUser: key?.keyID)
        let syncSettings = Self.syncSettings(cluster, repository, url: url)
        let folder = "\(cluster.path)/flux-system"
        let changes: [RepositoryWriter.Change] = [
            .init(path: "\(folder)/gotk-components.yaml", content: components.bytes, digest: components.digest),
            .write("\(folder)/gotk-sync.yaml", SyncManifests.render(syncSettings)),
            .create("\(folder)/kustomization.yaml", SyncManifests.kustomization(patches: Self.patches(flux))),
        ]
        // Flux builds kustomization.yaml on first install, so its patches count from the start: the IRSA
        // annotations go on the controllers' service accounts as they are applied.
        let componentObjects =
            BootstrapPlanner.appliesComponents(observed)
            ? Self.annotated(try await context.renders.objects(components), roles: flux.serviceAccountRoles) : []
        let syncObjects = SyncManifests.objects(syncSettings)
        let writer: RepositoryWriter? =
            if repository.transport == .ssh && key == nil {
                nil  // a dry run without a key cannot read the repository over SSH
            } else {
                try await writer(repository, key: key, url: url)
            }

        if dryRun {
            // Everything looked at, nothing changed: the planner says what a run would do.
            let unreadable = repository.transport == .ssh && key == nil
            var observation = ClusterObservation(cluster: observed, key: keyState)
            if let writer { observation.filesMissing = try await step(.commit) { try await writer.preview(changes) } }
            // After the repository was reached: its host key is pinned then.
            if let secret = try secretData(repository, key: key, url: url) {
                observation.secret = try await step(.secret) { try await Self.secretState(kube, wanted: secret) }
            } else {
                observation.secret = unreadable ? .differs : .notNeeded
            }
            if !unreadable {
                observation.syncObjectsStale = try await step(.sync) { try await Self.staleObjects(kube, syncObjects) }
            }
            let desired = BootstrapDesired(
                flux: flux.version, manifestsVersion: manifests.version, files: changes.map(\.path),
                componentObjects: componentObjects.count, syncObjects: syncObjects.count)
            outcome.actions = try BootstrapPlanner.plan(observation, desired)
            return
        }
        guard let writer else { throw FleetFailure("no SSH key for repository \(repository.name)") }
        let receipt = try await step(.commit) {
            try await writer.submit(
                cluster: cluster.name, directory: cluster.path, changes: changes,
                message: "Add Flux \(manifests.version) component manifests")
        }
        outcome.revision = "\(repository.branch)@sha1:\(receipt.commit.hex)"
        if receipt.changed { outcome.actions.append(.commit(files: changes.map(\.path))) }

        // Cluster side, in Flux's order.
        if BootstrapPlanner.appliesComponents(observed) {
            // No Flux CRD at all: nothing of Flux's is there to compare with, every object is sent.
            let applied = try await step(.components) {
                try await kube.applyAll(componentObjects, readFirst: observed.fluxInstalled).applied.count
            }
            if applied > 0 { outcome.actions.append(.applyComponents(objects: applied)) }
        }
        if let secret = try secretData(repository, key: key, url: url) {
            let written = try await step(.secret) { () -> Bool in
                guard try await Self.secretState(kube, wanted: secret) == .differs else { return false }
                try await kube.createOrUpdateSecret(namespace: "flux-system", name: "flux-system", data: secret)
                return true
            }
            if written { outcome.actions.append(.writeSecret) }
        }
        let applied = try await step(.sync) { try await kube.applyAll(syncObjects).applied.count }
        if applied > 0 { outcome.actions.append(.applySync(objects: applied)) }
        let pushed = outcome.revision
        outcome.revision = try await step(.wait) {
            try await waitReady(kube, writer: writer, pushed: pushed, components: install.components)
        }
    }

    func authentication(_ repository: Repository, key: SSHKeyMaterial?, credentials: any CredentialProvider)
        throws -> GitAuthentication
    {
        switch repository.transport {
        case .ssh:
            guard let key else { throw FleetFailure("no SSH key for repository \(repository.name)") }
            return .sshKey(privateKeyPEM: key.privateKeyPEM, passphrase: key.passphrase)
        case .https:
            return .codeCommitIAM(credentials: credentials, region: repository.region)
        case .httpsToken:
            guard let username = try repository.gitUsername(environment: context.environment),
                let password = repository.password
            else {
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
            return SecretData.ssh(
                privateKeyPEM: key.privateKeyPEM.reveal(), publicKey: key.publicKey, knownHosts: knownHosts,
                passphrase: key.passphrase.reveal())
        case .https:
            return nil
        case .httpsToken:
            guard let username = try repository.gitUsername(environment: context.environment),
                let password = repository.password
            else { return nil }
            return SecretData.basic(
                username: username, password: try password.resolve(environment: context.environment).reveal())
        }
    }

    /// gotk-sync.yaml's settings for `cluster` reaching `repository` at `url`.
    static func syncSettings(_ cluster: Cluster, _ repository: Repository, url: String) -> SyncSettings {
        SyncSettings(
            url: url, branch: repository.branch, path: cluster.path,
            provider: repository.transport == .https ? "aws" : nil)
    }

    static func source(_ flux: FluxSettings) -> ManifestSource {
        switch flux.manifests {
        case .url(let url, let sha)?: .url(url, sha256: sha)
        case .path(let path, let sha)?: .path(path, sha256: sha)
        case nil: .release(flux.version.description)
        }
    }

    /// The controllers' ServiceAccounts with their `eks.amazonaws.com/role-arn`, as the kustomization's patches make
    /// them. The objects with each IRSA role on its controller's ServiceAccount (only those re-encoded).
    static func annotated(_ objects: [EncodedObject], roles: [String: String]) -> [EncodedObject] {
        guard !roles.isEmpty else { return objects }
        return objects.map { encoded in
            let object = encoded.object
            guard object["kind"]?.string == "ServiceAccount", let name = object[path: "metadata.name"]?.string,
                let role = roles[name]
            else { return encoded }
            var copy = object
            var annotations = copy[path: "metadata.annotations"]?.object ?? [:]
            annotations["eks.amazonaws.com/role-arn"] = .string(role)
            copy["metadata"]?["annotations"] = .object(annotations)
            return EncodedObject(copy)
        }
    }

    static func patches(_ flux: FluxSettings) -> [SyncManifests.Patch] {
        var patches = flux.serviceAccountRoles.sorted { $0.key < $1.key }.map {
            SyncManifests.serviceAccountRole(controller: $0.key, roleARN: $0.value)
        }
        if flux.sopsKMSKeyARN != nil { patches.append(SyncManifests.sopsDecryption) }
        patches += flux.patches.map { SyncManifests.Patch(patch: $0.patch, target: $0.target) }
        return patches
    }
}
