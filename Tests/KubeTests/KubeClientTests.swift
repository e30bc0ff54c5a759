// The Kubernetes client against the lab's clusters: Flux's components applied in Flux's order and re-applied as a
// no-op, secrets created and updated, tokens renewed, retries on 429 and 5xx, and clear errors for a wrong CA or a
// role without access. And the whole of a bootstrap wired from the Flux, Git and Kube pieces on one lab cluster.
import AWS
import FleetCrypto
import FleetLab
import FleetSupport
import Flux
import Foundation
import Git
import Kube
import LabSupport
import Synchronization
import TestSupport
import Testing

@Suite("Kubernetes client against the lab", .serialized)
struct KubeClientTests {
    static func components() throws -> ComponentManifests {
        let file = SharedData.url("testdata/flux/v2.4.0/gotk-components.yaml")
        return try ComponentManifests.parse(try String(contentsOf: file, encoding: .utf8), source: "v2.4.0")
    }

    static let fast = WaitSettings(timeout: .seconds(30), poll: .milliseconds(100))

    func client(_ fixture: LabFixture, cluster: String = "prod-a", as account: String = "prod") async throws
        -> KubeClient
    {
        let aws = try fixture.client()
        let owner = try await fixture.session("prod", client: aws)
        let caller = try await fixture.session(account, client: aws)
        let clock = fixture.clock
        let access = try await KubeAccess.eks(
            cluster: cluster, region: "eu-west-1", describer: EKSClient(client: aws, region: "eu-west-1"),
            credentials: owner,
            tokenCredentials: caller, now: { Date().addingTimeInterval(clock.offset.withLock { $0 }) })
        return KubeClient(access: access, random: { 0 })
    }

    @Test
    func fluxComponentsApplyInOrderAndReapplyingSendsNothing() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            let objects = try KubeClient.objects(fromYAML: try Self.components().render(InstallOptions()))
            let first = try await kube.applyAll(objects)
            #expect(first.applied.count == 31 && first.unchanged.isEmpty)
            #expect(
                first.applied.prefix(6).allSatisfy {
                    $0.hasPrefix("Namespace") || $0.hasPrefix("CustomResourceDefinition")
                }, "CRDs and Namespaces first")
            let patches = fixture.lab.counters().operations["kubernetes:patch"] ?? 0
            let second = try await kube.applyAll(objects)
            #expect(second.applied.isEmpty && second.unchanged.count == 31, "\(second.applied)")
            #expect(
                fixture.lab.counters().operations["kubernetes:patch"] ?? 0 == patches,
                "no apply request the second time")
            let deployment = try await kube.get(
                apiVersion: "apps/v1", kind: "Deployment", namespace: "flux-system", name: "source-controller")
            #expect(deployment?[path: "metadata.labels"]?["app.kubernetes.io/part-of"]?.string == "flux")
        }
    }

    /// Deployments are waited for as kstatus waits: one LIST of the namespace a pass, however many are named; a
    /// Deployment never created times out as "not found", one not yet Available is waited for.
    @Test func deploymentsAreWaitedForWithOneListAPass() async throws {
        var config = LabFixture.config
        config.controllers = .init(deploymentDelay: "1500ms")  // far longer than the apply takes: several passes
        try await withLab(ssh: false, config: config) { fixture in
            let kube = try await client(fixture)
            func deployment(_ name: String) -> String {
                """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: \(name), namespace: flux-system}
                spec:
                  selector: {matchLabels: {app: \(name)}}
                  template:
                    metadata: {labels: {app: \(name)}}
                    spec: {containers: [{name: manager, image: "ghcr.io/fluxcd/\(name):v1"}]}
                """
            }
            let yaml =
                (["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system"] + ["a", "b", "c"].map(deployment))
                .joined(separator: "\n---\n")
            _ = try await kube.applyAll(try KubeClient.objects(fromYAML: yaml))
            let before = fixture.lab.counters().operations
            try await kube.waitAvailable(namespace: "flux-system", deployments: ["a", "b", "c"], settings: Self.fast)
            let after = fixture.lab.counters().operations
            let lists = (after["kubernetes:list"] ?? 0) - (before["kubernetes:list"] ?? 0)
            #expect(lists >= 2, "several passes, each one LIST: \(lists)")
            #expect((after["kubernetes:get"] ?? 0) == (before["kubernetes:get"] ?? 0), "no GET per Deployment")

            await #expect {
                try await kube.waitAvailable(
                    namespace: "flux-system", deployments: ["a", "missing"],
                    settings: WaitSettings(timeout: .milliseconds(300), poll: .milliseconds(100)))
            } throws: { error in
                let kube = error as? KubeError
                return kube?.kind == .timeout && "\(error)".contains("flux-system/missing")
                    && "\(error)".contains("not found")
            }
        }
    }

    @Test func secretsAreCreatedThenUpdatedOnlyWhenTheirDataChanges() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            _ = try await kube.applyAll(
                try KubeClient.objects(fromYAML: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"))
            try await kube.createOrUpdateSecret(
                namespace: "flux-system", name: "flux-system", data: ["username": "a", "password": "b"])
            try await kube.createOrUpdateSecret(
                namespace: "flux-system", name: "flux-system", data: ["username": "a", "password": "c"])
            let updates = fixture.lab.counters().operations["kubernetes:update"] ?? 0
            try await kube.createOrUpdateSecret(
                namespace: "flux-system", name: "flux-system", data: ["username": "a", "password": "c"])
            #expect(
                fixture.lab.counters().operations["kubernetes:update"] ?? 0 == updates,
                "the same data is not written again"
            )
            let secret = try await kube.get(
                apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
            #expect(secret?[path: "data.password"]?.string == Data("c".utf8).base64EncodedString())
            #expect(
                try await kube.delete(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system"))
            #expect(
                try await kube.get(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system")
                    == nil)
        }
    }

    @Test func tokensAreRenewedBeforeTheyExpireAndWhenRefused() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            #expect(try await kube.list(apiVersion: "v1", kind: "Namespace", namespace: nil).count == 3)
            fixture.advance(to: 14 * 60)  // the first token is now too old for the lab
            #expect(
                try await kube.list(apiVersion: "v1", kind: "Namespace", namespace: nil).count == 3,
                "a new token was made")

            // A token the server refuses is renewed once.
            let good = try await kube.access.tokens.token(refresh: false)
            let flaky = FlakyToken(good: good)
            let renewing = KubeClient(
                access: KubeAccess(name: "prod-a", server: kube.access.server, caPEM: kube.access.caPEM, tokens: flaky))
            #expect(try await renewing.list(apiVersion: "v1", kind: "Namespace", namespace: nil).count == 3)
            #expect(flaky.refreshes.withLock { $0 } == 1)
        }
    }

    @Test func throttlingAndServerErrorsAreRetried() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            try await fixture.lab.setFaults(
                LabFaults(rules: [
                    .init(service: "kubernetes", operation: "list", error: .tooManyRequests, count: 2, retryAfter: 0),
                    .init(service: "kubernetes", operation: "get", error: .unavailable, count: 1),
                ]))
            #expect(try await kube.list(apiVersion: "v1", kind: "Namespace", namespace: nil).count == 3)
            #expect(try await kube.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "default") != nil)
            let counters = fixture.lab.counters()
            #expect(counters.throttled["kubernetes"] == 2 && counters.failed["kubernetes"] == 1)
        }
    }

    @Test func discoveryThatKeepsFailingIsAServerErrorNotAMissingCRD() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            // Every GET fails with 503 for longer than the client retries: discovery must say so, not "not served".
            try await fixture.lab.setFaults(
                LabFaults(rules: [.init(service: "kubernetes", error: .unavailable, count: 100)]))
            await #expect { _ = try await kube.resource(apiVersion: "apps/v1", kind: "Deployment") } throws: { error in
                (error as? KubeError)?.kind == .server && !"\(error)".contains("does not serve")
            }
            try await fixture.lab.setFaults(LabFaults())
            #expect(try await kube.resource(apiVersion: "apps/v1", kind: "Deployment").plural == "deployments")
            await #expect { _ = try await kube.resource(apiVersion: "example.com/v1", kind: "Widget") } throws: {
                error in
                (error as? KubeError)?.kind == .notFound
            }
        }
    }

    /// Discovery asks as few times as the cluster allows: with aggregated discovery (v2 from Kubernetes 1.30,
    /// v2beta1 from 1.26) every group version's kinds come in two answers, /apis and /api, and the core group's
    /// are kept when CRDs change; an older cluster answers with the legacy document and is asked group version by
    /// group version, with the same results.
    @Test(arguments: ["1.31", "1.28", "1.25"])
    func discoveryAsksAsFewTimesAsTheClusterAllows(version: String) async throws {
        var config = LabFixture.config
        config.clusters[0].version = version
        try await withLab(ssh: false, config: config) { fixture in
            let kube = try await client(fixture)
            func discoveries() -> Int { fixture.lab.counters().operations["kubernetes:discovery"] ?? 0 }
            async let deployment = kube.resource(apiVersion: "apps/v1", kind: "Deployment")
            async let role = kube.resource(apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole")
            async let policy = kube.resource(apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy")
            async let namespace = kube.resource(apiVersion: "v1", kind: "Namespace")
            let found = try await [deployment, role, policy, namespace]
            #expect(found.map(\.plural) == ["deployments", "clusterroles", "networkpolicies", "namespaces"])
            #expect(found.map(\.namespaced) == [true, false, true, false])
            let aggregated = version != "1.25"
            // Legacy: /apis and /api answered with the legacy documents, then each of the four group versions.
            #expect(discoveries() == (aggregated ? 2 : 6))
            await #expect {
                _ = try await kube.resource(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository")
            } throws: { error in
                (error as? KubeError)?.kind == .notFound
                    && "\(error)".contains("does not serve source.toolkit.fluxcd.io/v1")
            }
            await #expect { _ = try await kube.resource(apiVersion: "apps/v1", kind: "Widget") } throws: { error in
                (error as? KubeError)?.kind == .notFound && "\(error)".contains("apps/v1 has no kind Widget")
            }
            kube.forgetDiscovery()
            #expect(try await kube.resource(apiVersion: "v1", kind: "Secret").plural == "secrets")
            #expect(try await kube.resource(apiVersion: "apps/v1", kind: "Deployment").plural == "deployments")
            #expect(discoveries() == (aggregated ? 2 + 2 + 1 : 6 + 2 + 1), "the core group's kinds are kept")
        }
    }

    @Test func aWrongCAAndARoleWithoutAccessFailClearly() async throws {
        try await withLab(ssh: false) { fixture in
            let kube = try await client(fixture)
            let labCA = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle)))
            let wrongCA = KubeClient(
                access: KubeAccess(name: "prod-a", server: kube.access.server, caPEM: labCA, tokens: kube.access.tokens)
            )
            await #expect { _ = try await wrongCA.list(apiVersion: "v1", kind: "Namespace", namespace: nil) } throws: {
                error in
                (error as? KubeError)?.kind == .tls && "\(error)".hasPrefix("cluster prod-a: discover v1:")
            }
            #expect(try await kube.canI("create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"))
            // A role with no access entry on the cluster: EKS does not know it (401), and the error says where to look.
            let unmapped = try await client(fixture, as: "dev")
            await #expect {
                _ = try await unmapped.canI("create", group: "", resource: "secrets", namespace: "flux-system")
            } throws: { ($0 as? KubeError)?.kind == .unauthorized }
            await #expect {
                _ = try await unmapped.get(apiVersion: "v1", kind: "Namespace", namespace: nil, name: "default")
            } throws: { error in
                (error as? KubeError)?.kind == .unauthorized && "\(error)".contains("access entry")
            }
        }
    }
}

/// Hands out a refused token first, the good one after a refresh.
final class FlakyToken: KubeTokenSource {
    let good: Secret
    let refreshes = Mutex(0)
    init(good: Secret) { self.good = good }
    func token(refresh: Bool) async throws -> Secret {
        if refresh { refreshes.withLock { $0 += 1 } }
        return refreshes.withLock { $0 } > 0 ? good : Secret("k8s-aws-v1.not-a-token")
    }
}

@Suite("Kubernetes client: requests in flight per cluster")
struct KubeConcurrencyTests {
    @Test func fewClustersAtOnceGetMoreRequestsEachWithinBounds() {
        // One cluster at a time: a stage of Flux's components in 2 round trips instead of 6; many: the minimum.
        #expect(KubeClient.concurrency(parallel: 1) == 32)
        #expect(KubeClient.concurrency(parallel: 8) == 32)
        #expect(KubeClient.concurrency(parallel: 16) == 16)
        #expect(KubeClient.concurrency(parallel: 32) == 8)
        #expect(KubeClient.concurrency(parallel: 100) == KubeClient.minimumConcurrency)
        #expect(KubeClient.concurrency(parallel: 0) == 32)
        for parallel in [1, 3, 10, 33, 64, 500] {
            let each = KubeClient.concurrency(parallel: parallel)
            #expect(each >= KubeClient.minimumConcurrency && each <= 32)
            #expect(each * parallel <= 256 || each == KubeClient.minimumConcurrency, "the run's total stays near 256")
        }
    }
}
