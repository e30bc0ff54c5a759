// One lab cluster bootstrapped by hand from the pieces (Flux manifests, the Git writer, the Kubernetes client), the
// way `flux bootstrap git` does it, then inspected: the same objects, labels, secret keys and sync settings as the
// v2.4.0 reference, Ready at the pushed commit; and a second run changes nothing.
import AWS
import FleetCrypto
import FleetLab
import FleetSupport
import Flux
import Foundation
import Git
import Kube
import LabSupport
import SigV4
import TestSupport
import Testing

@Suite("Bootstrap wired from Flux, Git and Kube", .serialized)
struct BootstrapWiringTests {
    @Test(.tags(.integration))
    func oneLabClusterOverHTTPSLooksLikeFluxBootstrapped() async throws {
        var config = LabFixture.config
        config.controllers = .init(deploymentDelay: "200ms")
        try await withLab(ssh: false, config: config) { fixture in
            let aws = try fixture.client()
            let prod = try await fixture.session("prod", client: aws)
            let manifests = try KubeClientTests.components()
            let url = "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod"
            let caPEM = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle)))
            let writer = try RepositoryWriter(
                remote: GitRemote(
                    url: url, authentication: .codeCommitIAM(credentials: prod, region: "eu-west-1"),
                    trust: GitTrust(caPEM: caPEM)),
                localPath: fixture.directory.appendingPathComponent("mirror.git").path)
            // Over HTTPS with a token, Flux's secret holds a username and password (here a Git password the lab
            // accepts).
            let git = CodeCommitGitCredentials.make(
                host: String(fixture.lab.info.endpoint.dropFirst("https://".count)), path: "/v1/repos/fleet-prod",
                region: "eu-west-1",
                credentials: try await prod.credentials(), date: Date())
            let kube = KubeClient(
                access: try await KubeAccess.eks(
                    cluster: "prod-a", region: "eu-west-1", describer: EKSClient(client: aws, region: "eu-west-1"),
                    credentials: prod), random: { 0 })

            func bootstrap() async throws -> (RepositoryWriter.Receipt, ApplyReport) {
                let components = try manifests.render(InstallOptions())
                let sync = SyncManifests.render(SyncSettings(url: url, branch: "main", path: "clusters/prod-a"))
                let receipt = try await writer.submit(
                    cluster: "prod-a", directory: "clusters/prod-a",
                    changes: [
                        .write("clusters/prod-a/flux-system/gotk-components.yaml", components),
                        .write("clusters/prod-a/flux-system/gotk-sync.yaml", sync),
                        .write("clusters/prod-a/flux-system/kustomization.yaml", SyncManifests.kustomization()),
                    ], message: "Add Flux \(manifests.version) component manifests")
                var report = try await kube.applyAll(try KubeClient.objects(fromYAML: components))
                try await kube.createOrUpdateSecret(
                    namespace: "flux-system", name: "flux-system",
                    data: SecretData.basic(username: git.username, password: git.password.reveal()))
                let syncReport = try await kube.applyAll(try KubeClient.objects(fromYAML: sync))
                report.applied += syncReport.applied
                report.unchanged += syncReport.unchanged
                let revision = "main@sha1:\(receipt.commit.hex)"
                let fast = KubeClientTests.fast
                try await kube.waitReady(
                    apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
                    name: "flux-system", revision: revision, settings: fast)
                try await kube.waitReady(
                    apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
                    name: "flux-system", revision: revision, settings: fast)
                try await kube.waitAvailable(
                    namespace: "flux-system", deployments: InstallOptions.defaultComponents, settings: fast)
                return (receipt, report)
            }

            let (receipt, report) = try await bootstrap()
            #expect(receipt.changed)
            #expect(report.applied.count == 33, "31 components and the 2 sync objects")

            // Inspect as `flux` would the day after.
            let repository = try await kube.get(
                apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
                name: "flux-system")
            #expect(repository?[path: "spec.interval"]?.string == "1m0s")
            #expect(repository?[path: "spec.secretRef.name"]?.string == "flux-system")
            #expect(repository?[path: "spec.ref.branch"]?.string == "main")
            #expect(repository?[path: "status.artifact.revision"]?.string == "main@sha1:\(receipt.commit.hex)")
            let kustomization = try await kube.get(
                apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", namespace: "flux-system",
                name: "flux-system")
            #expect(
                kustomization?[path: "spec.path"]?.string == "./clusters/prod-a"
                    && kustomization?[path: "spec.interval"]?.string == "10m0s")
            #expect(kustomization?[path: "spec.prune"]?.bool == true)
            let secret = try await kube.get(
                apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
            #expect(Set(secret?["data"]?.object?.keys ?? [:].keys) == ["username", "password"])
            let namespace = try await kube.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "flux-system")
            #expect(namespace?[path: "metadata.labels"]?["pod-security.kubernetes.io/warn"]?.string == "restricted")
            for component in InstallOptions.defaultComponents {
                let deployment = try await kube.get(
                    apiVersion: "apps/v1", kind: "Deployment", namespace: "flux-system", name: component)
                let labels = deployment?[path: "metadata.labels"]
                #expect(labels?["app.kubernetes.io/component"]?.string == component)
                #expect(
                    labels?["app.kubernetes.io/instance"]?.string == "flux-system"
                        && labels?["app.kubernetes.io/version"]?.string == "v2.4.0")
            }
            let crds = try await kube.list(
                apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", namespace: nil)
            #expect(crds.count == manifests.documents.filter { $0.kind == "CustomResourceDefinition" }.count)

            // The same run again: no commit, nothing applied.
            let (again, reapplied) = try await bootstrap()
            #expect(!again.changed && again.commit == receipt.commit)
            #expect(reapplied.applied.isEmpty, "\(reapplied.applied)")
        }
    }
}

extension Tag {
    @Tag static var integration: Self
}
