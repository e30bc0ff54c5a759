// One cluster's part of a rotation: protect (the current Secret `flux-system` copied to `flux-system-previous`, in
// the cluster), switch (for SSH the new key in Secret `flux-system` and the new key id as the GitRepository URL's
// user, right after each other, once gotk-sync.yaml in Git carries the same URL; for https-token the new user name
// and password in the secret), verify (a reconcile requested and the GitRepository Ready at the rotation's revision,
// so fetched with the new credential; the Kustomization Ready at it too), and, when that fails, roll back to the
// previous secret and URL.
// Every step is journaled; every step is safe to run again (a resumed run finds what is done).
import FleetSupport
import Flux
import Foundation
import Git
import Inventory
import Kube

struct ClusterKeySwitch: Sendable {
    let context: FleetContext
    let cluster: Cluster
    let repository: Repository
    let credential: RotationCredential
    let journal: StepJournal

    static let previousSecret = "flux-system-previous"
    static let gitRepository = (apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository")

    /// What the cluster had before, kept in memory for a rollback (and in `flux-system-previous`, in the cluster).
    struct Before: Sendable {
        let kube: KubeClient
        let url: String
        /// Secret `flux-system`'s data as it was (the old key: never logged, never written outside the cluster).
        let data: [String: Secret]
        /// The cluster already fetches with the new key (a resumed run).
        let switched: Bool
        /// What named the old credential: the URL's user (SSH) or the secret's user name (https-token).
        let oldMarker: String?
    }

    var newURL: String {
        if case .sshKey(let key) = credential { return repository.url(sshUser: key.keyID) }
        return repository.url()
    }

    /// What names the credential in the cluster: the URL's user (SSH) or the secret's user name (https-token).
    var marker: String {
        switch credential {
        case .sshKey(let key): key.keyID
        case .token(_, let username, _): username
        }
    }

    /// gotk-sync.yaml for `url`, as the cluster's folder holds it.
    func syncFile(url: String) -> RepositoryWriter.Submission {
        let text = SyncManifests.render(ClusterPipeline.syncSettings(cluster, repository, url: url))
        return RepositoryWriter.Submission(
            cluster: cluster.name, directory: cluster.path,
            changes: [.write("\(cluster.path)/flux-system/gotk-sync.yaml", text)])
    }

    /// Reads the cluster and keeps its current secret as `flux-system-previous`.
    func protect() async throws -> Before {
        let credentials = try await journal.step(RotationStep.credentials) {
            try await context.credentials(account: cluster.account, region: cluster.region)
        }
        let kube = try await journal.step(RotationStep.describe) {
            try await context.kubeClient(for: cluster, credentials: credentials)
        }
        let before = try await journal.step(RotationStep.read) { () -> Before in
            let notBootstrapped = FleetFailure(
                "Flux is not bootstrapped here (no GitRepository flux-system/flux-system): run fleetstrap bootstrap "
                    + "first",
                errorClass: "rotate.not-bootstrapped")
            let source: JSONValue?
            do {
                source = try await kube.get(
                    apiVersion: Self.gitRepository.apiVersion, kind: Self.gitRepository.kind, namespace: "flux-system",
                    name: "flux-system")
            } catch let error as KubeError where error.verb == "discover" && error.kind == .notFound {
                // No Flux CRDs at all: the cluster was never bootstrapped.
                throw notBootstrapped
            }
            guard let url = source?[path: "spec.url"]?.string else { throw notBootstrapped }
            guard
                let secret = try await kube.get(
                    apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
            else {
                throw FleetFailure(
                    "Secret flux-system/flux-system is missing: run fleetstrap bootstrap to restore it",
                    errorClass: "rotate.no-secret")
            }
            let data = Self.decode(secret)
            let switched =
                switch credential {
                case .sshKey(let key):
                    GitURL.parts(url)?.user == key.keyID
                        && data["identity.pub"]?.reveal().trimmingCharacters(in: .whitespacesAndNewlines)
                            == key.publicKey
                case .token(_, let username, let password):
                    data["username"]?.reveal() == username && data["password"]?.reveal() == password.reveal()
                }
            return Before(
                kube: kube, url: url, data: data, switched: switched,
                oldMarker: isSSH ? GitURL.parts(url)?.user : data["username"]?.reveal())
        }
        if !before.switched {
            try await journal.step(RotationStep.protect) {
                try await kube.createOrUpdateSecret(
                    namespace: "flux-system", name: Self.previousSecret, data: before.data.mapValues { $0.reveal() },
                    labels: ["app.kubernetes.io/managed-by": "fleetstrap"], fieldManager: "fleetstrap")
            }
        }
        return before
    }

    /// The new key in the secret, the new URL on the GitRepository, then a reconcile and Ready at `revision` with it.
    /// Returns the revision the GitRepository holds.
    func switchAndVerify(_ before: Before, revision: String?, writer: RepositoryWriter?) async throws -> String? {
        let kube = before.kube
        if !before.switched {
            try await journal.step(RotationStep.`switch`) {
                try await kube.createOrUpdateSecret(
                    namespace: "flux-system", name: "flux-system",
                    data: try secretData(knownHosts: before.data["known_hosts"]?.reveal()))
                if isSSH { try await applySource(kube, url: newURL) }
            }
        }
        return try await journal.step(RotationStep.verify) {
            let source = try await waitReady(kube, revision: revision, writer: writer)
            guard source[path: "spec.url"]?.string == newURL || !isSSH else {
                throw FleetFailure(
                    "the GitRepository's URL is \(GitURL.redacted(source[path: "spec.url"]?.string ?? "?")) with user "
                        + "\(GitURL.parts(source[path: "spec.url"]?.string ?? "")?.user ?? "none"), not key "
                        + "\(marker): something else rewrote it",
                    errorClass: "rotate.url-changed")
            }
            return source[path: "status.artifact.revision"]?.string ?? revision
        }
    }

    /// Back to what the cluster had: the previous secret and URL (gotk-sync.yaml with the old URL is at
    /// `revision`), then a reconcile to see it works again. Throws when it does not.
    func rollBack(_ before: Before, revision: String?, writer: RepositoryWriter?) async throws {
        let kube = before.kube
        try await journal.step(RotationStep.rollback, restores: true) {
            try await kube.createOrUpdateSecret(
                namespace: "flux-system", name: "flux-system", data: before.data.mapValues { $0.reveal() })
            if isSSH { try await applySource(kube, url: before.url) }
            _ = try await waitReady(kube, revision: revision, writer: writer)
        }
    }

    /// Once every cluster of the identity is switched: the previous secret goes.
    func retire() async throws {
        try await journal.step(RotationStep.retire) {
            let kube = try await context.kubeClient(
                for: cluster,
                credentials: try await context.credentials(account: cluster.account, region: cluster.region))
            try await kube.delete(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: Self.previousSecret)
        }
    }

    /// What the cluster uses now, as `marker` names it (for clusters of the holder outside the run).
    func currentMarker() async throws -> String? {
        let credentials = try await context.credentials(account: cluster.account, region: cluster.region)
        let kube = try await context.kubeClient(for: cluster, credentials: credentials)
        guard isSSH else {
            let secret = try await kube.get(
                apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
            return secret.map(Self.decode)?["username"]?.reveal()
        }
        let source = try await kube.get(
            apiVersion: Self.gitRepository.apiVersion, kind: Self.gitRepository.kind, namespace: "flux-system",
            name: "flux-system")
        return (source?[path: "spec.url"]?.string).flatMap { GitURL.parts($0)?.user }
    }

    var isSSH: Bool {
        if case .sshKey = credential { return true }
        return false
    }

    // MARK: Pieces

    private func secretData(knownHosts: String?) throws -> [String: String] {
        guard case .sshKey(let newKey) = credential else {
            guard case .token(_, let username, let password) = credential else { return [:] }
            return SecretData.basic(username: username, password: password.reveal())
        }
        var hosts = knownHosts
        if hosts?.isEmpty ?? true, let parts = GitURL.parts(newURL) {
            hosts = context.hostKeys.knownHostsLine(host: parts.host, port: parts.port)
        }
        guard let hosts, !hosts.isEmpty else {
            throw FleetFailure(
                "no known_hosts for \(repository.host): the repository was not reached over SSH",
                errorClass: "rotate.known-hosts")
        }
        return SecretData.ssh(
            privateKeyPEM: newKey.privateKeyPEM.reveal(), publicKey: newKey.publicKey, knownHosts: hosts,
            passphrase: newKey.passphrase.reveal())
    }

    /// The GitRepository of gotk-sync.yaml with `url`, applied as bootstrap applies it.
    private func applySource(_ kube: KubeClient, url: String) async throws {
        let objects = SyncManifests.objects(ClusterPipeline.syncSettings(cluster, repository, url: url))
        guard let source = objects.first(where: { $0["kind"]?.string == Self.gitRepository.kind }) else { return }
        try await kube.apply(source, fieldManager: "flux", returningObject: false)
    }

    /// A reconcile requested, then the GitRepository and the Kustomization Ready at `revision` or a later one.
    private func waitReady(_ kube: KubeClient, revision: String?, writer: RepositoryWriter?) async throws -> JSONValue {
        let pushed = revision.flatMap { ObjectID(hex: String($0.suffix(40))) }
        let accepts: @Sendable (String) async -> Bool = { seen in
            guard let pushed, let writer, let candidate = ObjectID(hex: String(seen.suffix(40))) else { return false }
            return (try? await writer.contains(candidate, ancestor: pushed)) ?? false
        }
        let (apiVersion, kind) = Self.gitRepository
        let requested = try await kube.requestReconcile(
            apiVersion: apiVersion, kind: kind, namespace: "flux-system", name: "flux-system")
        let source = try await kube.waitReady(
            apiVersion: apiVersion, kind: kind, namespace: "flux-system", name: "flux-system", revision: revision,
            requestedAt: requested, accepts: accepts, settings: context.wait)
        try await kube.waitReady(
            apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
            name: "flux-system", revision: revision, accepts: accepts,
            settings: context.wait)
        return source
    }

    static func decode(_ secret: JSONValue) -> [String: Secret] {
        var out: [String: Secret] = [:]
        for (key, value) in secret["data"]?.object ?? [:] {
            guard let text = value.string, let data = Data(base64Encoded: text) else { continue }
            out[key] = Secret(String(decoding: data, as: UTF8.self))
        }
        return out
    }
}
