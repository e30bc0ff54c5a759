// The simulated controllers: Deployments become Available after the delay; source-controller fetches with the
// credentials of Secret flux-system (an Active key works, an Inactive one does not), over SSH with OpenSSH and git,
// over HTTPS with the controller's IRSA role, and in scale mode by checking the same credentials against IAM;
// kustomize-controller follows its source; a stuck source-controller does nothing until healed.
import AWS
import FleetCrypto
import FleetLab
import FleetSupport
import Foundation
import HTTP
import LabSupport
import TestSupport
import Testing

@Suite("Lab: simulated controllers", .serialized)
struct LabControllerTests {
    static let sshReason: Comment =
        "Git over SSH in the lab runs sshd, which needs root and openssh-server (CI has both)"
    static var sshAvailable: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    static func config(scaleMode: Bool = false, deploymentDelay: String = "300ms") -> LabConfig {
        var config = LabFixture.config
        config.controllers = .init(deploymentDelay: deploymentDelay, scaleMode: scaleMode)
        return config
    }

    @Test func deploymentsBecomeAvailableAfterTheDelay() async throws {
        // A delay long enough that a loaded machine still reads the Deployment before it ends.
        try await withLab(ssh: false, config: Self.config(deploymentDelay: "4s")) { fixture in
            let c = try await fixture.connect()
            try await c.apply("/api/v1/namespaces/flux-system", Flux.namespace)
            let created = try await c.apply(
                "/apis/apps/v1/namespaces/flux-system/deployments/source-controller",
                Flux.deployment("source-controller"))
            #expect(created.status == 201)
            let first = JSONValue.parse(
                try await c.call("/apis/apps/v1/namespaces/flux-system/deployments/source-controller").body)
            #expect(!Flux.isTrue(first, "Available"), "not Available before the delay")
            let later = try await c.wait("/apis/apps/v1/namespaces/flux-system/deployments/source-controller") {
                Flux.isTrue($0, "Available")
            }
            #expect(Flux.isTrue(later, "Available"))
            #expect(later?[path: "status.availableReplicas"]?.int == 1)
            #expect(later?[path: "status.observedGeneration"]?.int == 1)
        }
    }

    @Test(.enabled(if: sshAvailable, sshReason))
    func sourceControllerFetchesOverSSHWithAnActiveKeyOnly() async throws {
        try await sshScenario(scaleMode: false)
    }

    @Test(.enabled(if: sshAvailable, sshReason))
    func scaleModeChecksTheSameCredentialsWithoutFetching() async throws {
        try await sshScenario(scaleMode: true)
    }

    private func sshScenario(scaleMode: Bool) async throws {
        try await withLab(ssh: true, config: Self.config(scaleMode: scaleMode)) { fixture in
            let head = try await Flux.seed(
                fixture, account: "111111111111", repository: "fleet-prod", path: "clusters/prod-a")
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            let key = try RSAPrivateKey.generate(bits: 2048)
            let iam = IAMClient(client: client)
            let uploaded = try await iam.uploadSSHPublicKey(
                userName: "flux-prod", publicKey: key.publicKey.openSSH, credentials: prod)
            let port = try #require(fixture.lab.info.sshPort)
            let url = "ssh://\(uploaded.keyID)@127.0.0.1:\(port)/v1/repos/fleet-prod"

            let c = try await fixture.connect()
            try await Flux.install(c)
            try await c.apply(
                "/api/v1/namespaces/flux-system/secrets/flux-system",
                Flux.sshSecret(
                    key: key, passphrase: "pass phrase", knownHosts: try #require(fixture.lab.info.sshKnownHosts)))
            try await c.apply(Flux.gitRepositoryPath, Flux.gitRepository(url: url))
            try await c.apply(Flux.kustomizationPath, Flux.kustomization(path: "./clusters/prod-a"))

            let ready = try await c.wait(Flux.gitRepositoryPath) { Flux.isTrue($0, "Ready") }
            #expect(
                ready?[path: "status.artifact.revision"]?.string == "main@sha1:\(head)",
                "\(String(describing: ready?["status"]))")
            #expect(ready?[path: "status.observedGeneration"]?.int == 1)
            let applied = try await c.wait(Flux.kustomizationPath) { Flux.isTrue($0, "Ready") }
            #expect(applied?[path: "status.lastAppliedRevision"]?.string == "main@sha1:\(head)")

            // The key is deactivated; a reconcile request makes the controller try again, and it is refused.
            try await iam.updateSSHPublicKey(
                userName: "flux-prod", keyID: uploaded.keyID, status: .inactive, credentials: prod)
            try await c.apply(Flux.gitRepositoryPath, Flux.gitRepository(url: url, requestedAt: "2026-11-22T06:00:00Z"))
            let refused = try await c.wait(Flux.gitRepositoryPath) { Flux.isFalse($0, "Ready") }
            #expect(Flux.isFalse(refused, "Ready"), "an Inactive key must not fetch")
            #expect(refused?[path: "status.lastHandledReconcileAt"]?.string == "2026-11-22T06:00:00Z")
            let message = Flux.condition(refused, "Ready")?["message"]?.string ?? ""
            #expect(message.hasPrefix("failed to checkout and determine revision: unable to clone"), "\(message)")
            #expect(
                scaleMode
                    ? message.contains("unable to authenticate") : message.lowercased().contains("permission denied"),
                "\(message)")
            #expect(
                refused?[path: "status.artifact.revision"]?.string == "main@sha1:\(head)", "the last artifact is kept")

            // A wrong host key is refused too, with the reason.
            try await iam.updateSSHPublicKey(
                userName: "flux-prod", keyID: uploaded.keyID, status: .active, credentials: prod)
            try await c.apply(
                "/api/v1/namespaces/flux-system/secrets/flux-system",
                Flux.sshSecret(
                    key: key, passphrase: "pass phrase",
                    knownHosts:
                        """
                        [127.0.0.1]:\(port) ssh-ed25519 \
                        AAAAC3NzaC1lZDI1NTE5AAAAIDC5zP3Rt5d8wV6vCA8hZ5B2uV6F4nJ+oWbHrJ1bJ8mG
                        """
                ))
            try await c.apply(Flux.gitRepositoryPath, Flux.gitRepository(url: url, requestedAt: "2026-11-22T06:01:00Z"))
            let mismatch = try await c.wait(Flux.gitRepositoryPath) {
                $0[path: "status.lastHandledReconcileAt"]?.string == "2026-11-22T06:01:00Z"
            }
            let hostMessage = Flux.condition(mismatch, "Ready")?["message"]?.string ?? ""
            #expect(
                scaleMode
                    ? hostMessage.contains("knownhosts: key mismatch")
                    : hostMessage.contains("Host key verification failed"), "\(hostMessage)")
        }
    }

    @Test func httpsWithTheControllersIRSARole() async throws {
        try await withLab(ssh: false, config: Self.config()) { fixture in
            let head = try await Flux.seed(
                fixture, account: "111111111111", repository: "fleet-prod", path: "clusters/prod-a")
            let c = try await fixture.connect()
            try await Flux.install(c, sourceControllerRole: "arn:aws:iam::111111111111:role/irsa")
            let url = "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod"
            try await c.apply(Flux.gitRepositoryPath, Flux.gitRepository(url: url, secret: false, provider: "aws"))
            try await c.apply(Flux.kustomizationPath, Flux.kustomization(path: "./clusters/prod-a"))
            let ready = try await c.wait(Flux.gitRepositoryPath) { Flux.isTrue($0, "Ready") }
            #expect(
                ready?[path: "status.artifact.revision"]?.string == "main@sha1:\(head)",
                "\(String(describing: ready?["status"]))")
            let applied = try await c.wait(Flux.kustomizationPath) { Flux.isTrue($0, "Ready") }
            #expect(applied?[path: "status.lastAppliedRevision"]?.string == "main@sha1:\(head)")

            // A path that is not in the commit fails the Kustomization, with kustomize-controller's words.
            try await c.apply(Flux.kustomizationPath, Flux.kustomization(path: "./clusters/nowhere"))
            let missing = try await c.wait(Flux.kustomizationPath) { Flux.isFalse($0, "Ready") }
            #expect(
                Flux.condition(missing, "Ready")?["message"]?.string?.contains("kustomization path not found") == true)

            // Without the IRSA annotation the controller cannot authenticate.
            try await c.apply(
                "/api/v1/namespaces/flux-system/serviceaccounts/source-controller", Flux.serviceAccount(role: nil))
            try await c.apply(
                Flux.gitRepositoryPath, Flux.gitRepository(url: url, secret: false, provider: "aws", requestedAt: "now")
            )
            let refused = try await c.wait(Flux.gitRepositoryPath) { Flux.isFalse($0, "Ready") }
            #expect(Flux.condition(refused, "Ready")?["reason"]?.string == "AuthenticationFailed")
        }
    }

    @Test func aStuckSourceControllerDoesNothingUntilHealed() async throws {
        try await withLab(ssh: false, config: Self.config()) { fixture in
            let head = try await Flux.seed(
                fixture, account: "111111111111", repository: "fleet-prod", path: "clusters/prod-a")
            try await fixture.lab.setFaults(LabFaults(stuckClusters: ["prod-a"]))
            let c = try await fixture.connect()
            try await Flux.install(c, sourceControllerRole: "arn:aws:iam::111111111111:role/irsa")
            let url = "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod"
            _ = try await c.wait("/apis/apps/v1/namespaces/flux-system/deployments/source-controller") {
                Flux.isTrue($0, "Available")
            }
            try await c.apply(Flux.gitRepositoryPath, Flux.gitRepository(url: url, secret: false, provider: "aws"))
            // A look that begins after the GitRepository is in place (the faults set again bring one) sees it: once it
            // has ended, the stuck controller has left the source alone, not merely not reached it yet.
            let began = fixture.lab.controllerLooks(at: "prod-a").began
            try await fixture.lab.setFaults(LabFaults(stuckClusters: ["prod-a"]))
            let deadline = ContinuousClock.now + .seconds(30)
            while fixture.lab.controllerLooks(at: "prod-a").finished <= began, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(fixture.lab.controllerLooks(at: "prod-a").finished > began)
            #expect(try await c.get(Flux.gitRepositoryPath)?["status"] == nil, "a stuck controller writes no status")
            try await fixture.lab.setFaults(LabFaults())
            let ready = try await c.wait(Flux.gitRepositoryPath) { Flux.isTrue($0, "Ready") }
            #expect(ready?[path: "status.artifact.revision"]?.string == "main@sha1:\(head)")
        }
    }
}

/// Minimal Flux objects: what the simulated controllers read, shaped as Flux writes them.
enum Flux {
    static let gitRepositoryPath =
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system"
    static let kustomizationPath =
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"
    static let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"

    static func deployment(_ name: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: \(name)
          namespace: flux-system
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: \(name)
          template:
            metadata:
              labels:
                app: \(name)
            spec:
              serviceAccountName: \(name)
              containers:
              - name: manager
                image: ghcr.io/fluxcd/\(name):v1.4.1

        """
    }

    static func crd(group: String, kind: String, plural: String) -> String {
        """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: \(plural).\(group)
        spec:
          group: \(group)
          names:
            kind: \(kind)
            plural: \(plural)
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true

        """
    }

    static func serviceAccount(role: String?) -> String {
        let annotations =
            role.map { "\n  annotations:\n    eks.amazonaws.com/role-arn: \($0)" } ?? "\n  annotations: {}"
        return
            """
            apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: source-controller\n  namespace: \
            flux-system\(annotations)\n
            """
    }

    /// The namespace, the two CRDs, the controllers' Deployments and service account.
    static func install(_ c: LabCluster, sourceControllerRole: String? = nil) async throws {
        try await c.apply("/api/v1/namespaces/flux-system", namespace)
        try await c.apply(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io",
            crd(group: "source.toolkit.fluxcd.io", kind: "GitRepository", plural: "gitrepositories"))
        try await c.apply(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io",
            crd(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", plural: "kustomizations"))
        try await c.apply(
            "/api/v1/namespaces/flux-system/serviceaccounts/source-controller",
            serviceAccount(role: sourceControllerRole))
        for name in ["source-controller", "kustomize-controller"] {
            try await c.apply("/apis/apps/v1/namespaces/flux-system/deployments/\(name)", deployment(name))
        }
    }

    static func sshSecret(key: RSAPrivateKey, passphrase: String, knownHosts: String) throws -> String {
        func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        return """
            apiVersion: v1
            kind: Secret
            metadata:
              name: flux-system
              namespace: flux-system
            data:
              identity: \(b64(try key.pem(passphrase: Secret(passphrase)).reveal()))
              identity.pub: \(b64(key.publicKey.openSSH + "\n"))
              known_hosts: \(b64(knownHosts + "\n"))
              password: \(b64(passphrase))

            """
    }

    static func gitRepository(url: String, secret: Bool = true, provider: String? = nil, requestedAt: String? = nil)
        -> String
    {
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata:
          name: flux-system
          namespace: \
        flux-system\(requestedAt.map { "\n  annotations:\n    reconcile.fluxcd.io/requestedAt: \"\($0)\"" } ?? "")
        spec:
          interval: 1m0s
          ref:
            branch: \
        main\(secret ? "\n  secretRef:\n    name: flux-system" : "")\(provider.map { "\n  provider: \($0)" } ?? "")
          url: \(url)

        """
    }

    static func kustomization(path: String) -> String {
        """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 10m0s
          path: \(path)
          prune: true
          sourceRef:
            kind: GitRepository
            name: flux-system

        """
    }

    /// A first commit on `main` with `<path>/flux-system/kustomization.yaml`, pushed straight into the lab's bare
    /// repository; returns its id.
    static func seed(_ fixture: LabFixture, account: String, repository: String, path: String) async throws -> String {
        let work = fixture.directory.appendingPathComponent("seed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: "\(work)/\(path)/flux-system", withIntermediateDirectories: true)
        try "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
            .write(toFile: "\(work)/\(path)/flux-system/kustomization.yaml", atomically: true, encoding: .utf8)
        let bare = "\(fixture.lab.info.repositoriesRoot)/\(account)/\(repository).git"
        for step in [
            ["git", "-C", work, "init", "-q", "-b", "main"], ["git", "-C", work, "add", "."],
            [
                "git", "-C", work, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-q", "-m",
                "seed",
            ],
            ["git", "-C", work, "push", "-q", bare, "main"],
        ] {
            let result = try await runCommand(step)
            guard result.status == 0 else { throw LabTestFailure("\(step.joined(separator: " ")): \(result.stderr)") }
        }
        let head = try await runCommand(["git", "-C", work, "rev-parse", "HEAD"])
        return String(decoding: head.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func condition(_ object: JSONValue?, _ type: String) -> JSONValue? {
        object?[path: "status.conditions"]?.array?.first { $0["type"]?.string == type }
    }
    static func isTrue(_ object: JSONValue?, _ type: String) -> Bool {
        condition(object, type)?["status"]?.string == "True"
    }
    static func isFalse(_ object: JSONValue?, _ type: String) -> Bool {
        condition(object, type)?["status"]?.string == "False"
    }
}

struct LabTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
