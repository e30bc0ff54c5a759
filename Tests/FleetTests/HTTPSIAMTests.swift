// HTTPS with IAM (Flux 2.9's `provider: aws`): no secret, the source-controller signs with its IRSA role, the
// annotation on its ServiceAccount put there on first install from the inventory's serviceAccountRoles. This
// machine has no Flux 2.9 release manifests, so the cluster side uses a minimal hand-written set labelled v2.9.0
// (namespace, the two CRDs, two controllers): what is tested is fleetstrap's path, not Flux's manifests.
import AWS
import Fleet
import FleetLab
import FleetSupport
import Foundation
import Inventory
import Kube
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: HTTPS with IAM against the lab", .serialized, .tags(.integration))
    struct HTTPSIAMTests {
        @Test func aClusterOverHTTPSWithTheControllersIRSARole() async throws {
            var config = LabFixture.config
            config.controllers = .init(deploymentDelay: "100ms")
            config.roles.append(.init(name: "flux-source", account: "prod", trust: [], webIdentity: true))
            config.clusters[0].version = "1.33"  // Flux 2.9 wants Kubernetes 1.33 or newer
            try await withLab(ssh: false, config: config) { fixture in
                // Flux v2.9.3's own manifests: its GitRepository CRD (with its schema) knows provider aws.
                let manifests = SharedData.url("testdata/flux/exports/v2.9.3-all6.yaml").path
                let port = try #require(fixture.lab.info.endpoint.split(separator: ":").last)
                let inventoryPath = fixture.directory.appendingPathComponent("fleet.yaml").path
                try """
                apiVersion: fleetstrap.io/v1
                kind: Fleet
                defaults:
                  flux:
                    version: 2.9.3
                    components: [source-controller, kustomize-controller]
                    manifests: {path: \(manifests)}
                    serviceAccountRoles: {sourceController: "arn:aws:iam::111111111111:role/flux-source"}
                accounts:
                  - {name: prod, id: "111111111111", roleArn: "arn:aws:iam::111111111111:role/fleetstrap", region: \
                eu-west-1}
                repositories:
                  - {name: fleet-prod, account: prod, region: eu-west-1, codecommit: fleet-prod, transport: https, \
                endpoint: "127.0.0.1:\(port)"}
                clusters:
                  - {name: prod-a, account: prod, region: eu-west-1, repository: fleet-prod}

                """.write(toFile: inventoryPath, atomically: true, encoding: .utf8)
                let inventory = try InventoryLoader.load(path: inventoryPath)
                var configuration = try AWSClient.Configuration.environment(fixture.lab.environment)
                configuration.random = { 0 }
                let context = try await FleetContext(
                    inventory: inventory, aws: AWSClient(configuration: configuration),
                    baseCredentials: fixture.operatorCredentials,
                    ledger: try Ledger(path: fixture.directory.appendingPathComponent("fleetstrap.db").path),
                    stateDirectory: fixture.directory.appendingPathComponent("state").path,
                    wait: WaitSettings(timeout: .seconds(30), poll: .seconds(1)), environment: fixture.lab.environment)
                let settings = RunSettings(
                    parallel: 1, waves: [.percent(100)], maxFailures: .count(0), clusterTimeoutSeconds: 60)
                let run = try await FleetRun(context: context, settings: settings)
                    .start(
                        command: "bootstrap", clusters: inventory.clusters, inventoryPath: inventoryPath,
                        inventoryDigest: "test", progress: { _ in })
                #expect(run.outcome == .succeeded, "\(run.failed)")
                let actions = try #require(run.plans["prod-a"])
                #expect(!actions.contains(.writeSecret), "IAM over HTTPS needs no secret")
                let kube = try await fixture.connect()
                let repository = try await kube.get(Self.gitRepositoryPath)
                #expect(
                    repository?[path: "spec.provider"]?.string == "aws" && repository?[path: "spec.secretRef"] == nil)
                #expect(repository?[path: "status.artifact.revision"]?.string?.hasPrefix("main@sha1:") == true)
                let serviceAccount = try await kube.get(
                    "/api/v1/namespaces/flux-system/serviceaccounts/source-controller")
                #expect(
                    serviceAccount?["metadata"]?["annotations"]?["eks.amazonaws.com/role-arn"]?.string
                        == "arn:aws:iam::111111111111:role/flux-source")
                #expect(try await kube.call("/api/v1/namespaces/flux-system/secrets/flux-system").status == 404)
            }
        }

        static let gitRepositoryPath =
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system"
    }
}
