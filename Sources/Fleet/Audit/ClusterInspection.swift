// One cluster as an audit sees it, reading only: Flux installed and its version (the controllers' labels), the
// GitRepository's URL, user and Ready state, the key in Secret `flux-system` (its fingerprint against the identity's
// IAM keys), the host key it trusts against the one fleetstrap pinned, and the Kustomization's state.
import FleetCrypto
import FleetSupport
import Foundation
import Git
import Inventory
import Kube

public struct ClusterState: Sendable, Codable, Equatable {
    public var cluster: String
    public var account: String
    public var region: String
    public var repository: String
    public var labels: [String: String]
    public var fluxInstalled = false
    public var fluxVersion: String?
    /// The GitRepository's URL without credentials.
    public var url: String?
    public var urlUser: String?
    public var ready: Bool?
    public var readyMessage: String?
    public var revision: String?
    /// MD5 fingerprint of `identity.pub` in Secret flux-system.
    public var keyFingerprint: String?
    /// The IAM key that fingerprint belongs to, and its status.
    public var keyID: String?
    public var keyStatus: String?
    public var kustomizationReady: Bool?
    /// Why the cluster could not be read.
    public var error: String?
}

/// An identity's IAM keys, with their fingerprints.
public struct IdentityKeySet: Sendable, Codable, Equatable {
    public struct Key: Sendable, Codable, Equatable {
        public var keyID: String
        public var status: String
        public var uploaded: Date?
        public var ageDays: Double?
        public var fingerprint: String?
    }
    public var identity: String
    public var account: String
    public var iamUser: String
    public var maxKeyAgeDays: Double?
    public var keys: [Key]
    public var error: String?
}

struct ClusterInspection: Sendable {
    let context: FleetContext
    let cluster: Cluster
    let keys: IdentityKeySet?
    let journal: StepJournal

    /// IAM's SSH public key ids: `APKA` and upper-case letters and digits.
    static func isKeyID(_ user: String) -> Bool {
        user.hasPrefix("APKA") && (16...32).contains(user.count)
            && user.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
    }

    func inspect() async -> (ClusterState, [AuditFinding]) {
        let repository = context.inventory.repository(named: cluster.repository)
        var state = ClusterState(
            cluster: cluster.name, account: cluster.account, region: cluster.region, repository: cluster.repository,
            labels: cluster.labels)
        var findings: [AuditFinding] = []
        func found(_ code: AuditFinding.Code, _ message: String) {
            findings.append(AuditFinding(code, cluster: cluster.name, message))
        }
        do {
            let credentials = try await journal.step(AuditStep.credentials) {
                try await context.credentials(account: cluster.account, region: cluster.region)
            }
            let kube = try await journal.step(AuditStep.describe) {
                try await context.kubeClient(for: cluster, credentials: credentials)
            }
            try await journal.step(AuditStep.read) {
                guard
                    let controller = try await kube.get(
                        apiVersion: "apps/v1", kind: "Deployment", namespace: "flux-system", name: "source-controller")
                else {
                    found(
                        .notBootstrapped,
                        """
                        Flux is not installed (no source-controller in flux-system): fleetstrap bootstrap --cluster \
                        \(cluster.name)
                        """
                    )
                    return
                }
                let source: JSONValue?
                do {
                    source = try await kube.get(
                        apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
                        name: "flux-system")
                } catch let error as KubeError where error.kind == .notFound {
                    source = nil  // no GitRepository kind: the CRDs are not installed
                }
                guard let source else {
                    found(
                        .notBootstrapped,
                        """
                        Flux controllers run but it is not bootstrapped (no GitRepository flux-system): fleetstrap \
                        bootstrap --cluster \(cluster.name)
                        """
                    )
                    return
                }
                state.fluxInstalled = true
                state.fluxVersion = controller[path: "metadata.labels"]?["app.kubernetes.io/version"]?.string
                if let version = state.fluxVersion,
                    let installed = SemanticVersion(version.hasPrefix("v") ? String(version.dropFirst()) : version),
                    installed < cluster.flux.version
                {
                    found(.fluxBehind, "Flux \(version) is installed; the inventory asks for v\(cluster.flux.version)")
                }
                let ready = KubeClient.condition(source, "Ready")
                state.ready = ready?["status"]?.string == "True"
                state.readyMessage = ready?["message"]?.string
                state.revision = source[path: "status.artifact.revision"]?.string
                if state.ready != true {
                    found(.notReady, "GitRepository flux-system is not Ready: \(state.readyMessage ?? "no status")")
                }
                let kustomization = try await kube.get(
                    apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
                    name: "flux-system")
                let kReady = KubeClient.condition(kustomization, "Ready")
                state.kustomizationReady = kReady?["status"]?.string == "True"
                if state.kustomizationReady != true {
                    found(
                        .kustomizationNotReady,
                        "Kustomization flux-system is not Ready: \(kReady?["message"]?.string ?? "no status")")
                }

                guard let url = source[path: "spec.url"]?.string, repository?.transport == .ssh else { return }
                let secret = try await kube.get(
                    apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
                let data = secret.map(ClusterKeySwitch.decode) ?? [:]
                let user = checkURL(url, &state, found)
                checkKey(data["identity.pub"]?.reveal(), user: user, &state, found)
                let host = GitURL.parts(url).map { ($0.host, $0.port) } ?? Self.scpParts(url).map { ($0.host, $0.port) }
                if let knownHosts = data["known_hosts"]?.reveal(), let (name, port) = host {
                    checkHostKey(knownHosts, host: name, port: port, found)
                }
            }
        } catch {
            state.error = "\(error)"
            found(.unreachable, "cannot read the cluster: \(error)")
        }
        return (state, findings)
    }

    /// The URL's user, with findings for scp-like URLs and users that are no key id.
    private func checkURL(_ url: String, _ state: inout ClusterState, _ found: (AuditFinding.Code, String) -> Void)
        -> String?
    {
        if !url.contains("://") {
            let user = Self.scpParts(url)?.user
            state.url = url.split(separator: "@", maxSplits: 1).last.map(String.init) ?? url
            state.urlUser = user
            found(
                .urlScpLike,
                "the URL \(state.url!) is scp-like: Flux needs ssh://\(user.map { "\($0)@" } ?? "")host/v1/repos/<name>"
            )
            return user
        }
        let parts = GitURL.parts(url)
        state.url = GitURL.redacted(url)
        state.urlUser = parts?.user
        guard let user = parts?.user, Self.isKeyID(user) else {
            found(
                .urlUserNotKeyID,
                """
                the SSH user is '\(parts?.user ?? "")', not an SSH key id (APKA…): CodeCommit authenticates the key \
                id as the user
                """
            )
            return nil
        }
        return user
    }

    private func checkKey(
        _ publicKey: String?, user: String?, _ state: inout ClusterState, _ found: (AuditFinding.Code, String) -> Void
    ) {
        guard let publicKey, let key = SSHPublicKey(openSSH: publicKey.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            found(.keyUnknown, "Secret flux-system has no readable identity.pub")
            return
        }
        state.keyFingerprint = key.md5Fingerprint
        guard let keys else { return }
        guard let match = keys.keys.first(where: { $0.fingerprint == key.md5Fingerprint }) else {
            found(
                .keyUnknown,
                "the key in Secret flux-system (\(key.md5Fingerprint)) is not one of \(keys.iamUser)'s IAM keys")
            return
        }
        state.keyID = match.keyID
        state.keyStatus = match.status
        if match.status != "Active" {
            found(
                .keyInactive,
                "the key in Secret flux-system is \(match.keyID), which is \(match.status) in IAM: fetches fail")
        } else if let user, user != match.keyID {
            found(.urlUserMismatch, "the URL's user is \(user) but the key in Secret flux-system is \(match.keyID)")
        }
    }

    private func checkHostKey(
        _ knownHosts: String, host: String, port: Int?, _ found: (AuditFinding.Code, String) -> Void
    ) {
        let pattern = HostKeyPins.pattern(host: host, port: port)
        guard let pinned = context.hostKeys.knownHostsLine(host: host, port: port) else { return }
        let pinnedKey = pinned.split(separator: " ").dropFirst().joined(separator: " ")
        let lines = knownHosts.split(whereSeparator: \.isNewline).filter {
            $0.split(separator: " ").first.map(String.init) == pattern
        }
        guard !lines.isEmpty else { return }
        if !lines.contains(where: { $0.split(separator: " ").dropFirst().joined(separator: " ") == pinnedKey }) {
            found(
                .hostKeyChanged,
                """
                known_hosts in Secret flux-system trusts another key for \(pattern) than the one fleetstrap pinned \
                (\(pinnedKey.prefix(24))…)
                """
            )
        }
    }

    /// `user@host:path` → user, host.
    static func scpParts(_ url: String) -> (user: String?, host: String, port: Int?)? {
        guard !url.contains("://"), let colon = url.firstIndex(of: ":") else { return nil }
        let authority = url[..<colon]
        let pieces = authority.split(separator: "@", maxSplits: 1)
        return pieces.count == 2 ? (String(pieces[0]), String(pieces[1]), nil) : (nil, String(authority), nil)
    }
}
