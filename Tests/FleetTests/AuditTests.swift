// The audit against a lab fleet with planted problems: each one is reported, with its code and severity, and
// nothing else; healthy clusters have no finding; the audit is recorded in the ledger.
import AWS
import Fleet
import FleetCrypto
import FleetLab
import FleetSupport
import Flux
import Foundation
import Inventory
import Kube
import LabSupport
import Ledger
import Testing

extension LabFleetSuites {
    @Suite("Fleet: audit against the lab", .serialized, .tags(.integration))
    struct AuditTests {
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func plantedProblemsAreEachReportedAndNothingElse() async throws {
            // prod-0001, staging-0002, prod-0003 … staging-0012: two identities, flux-prod and flux-staging.
            try await LabFleet.with(accounts: 2, clusters: 12) { started in
                var fleet = started
                let bootstrapped = fleet.inventory.clusters.filter { $0.name != "staging-0010" }
                let run = try await FleetRun(context: try await fleet.context(), settings: RotationTests.settings)
                    .start(
                        command: "bootstrap", clusters: bootstrapped, inventoryPath: fleet.inventoryPath,
                        inventoryDigest: "test", progress: { _ in })
                try #require(run.outcome == .succeeded, "\(run.failed.prefix(3))")

                // flux-staging's keys may be one second old at most.
                var text = try String(contentsOfFile: fleet.inventoryPath, encoding: .utf8)
                text = text.replacingOccurrences(
                    of: "  - name: flux-staging\n    account: staging\n",
                    with: "  - name: flux-staging\n    account: staging\n    maxKeyAge: 1s\n")
                try text.write(toFile: fleet.inventoryPath, atomically: true, encoding: .utf8)
                fleet = LabFleet(
                    fixture: fleet.fixture, inventory: try InventoryLoader.load(path: fleet.inventoryPath),
                    inventoryPath: fleet.inventoryPath, ledgerPath: fleet.ledgerPath,
                    stateDirectory: fleet.stateDirectory)
                let context = try await fleet.context()
                let stuck = ["prod-0003", "prod-0005", "prod-0007", "prod-0009", "staging-0006"]
                try await fleet.fixture.lab.setFaults(LabFaults(stuckClusters: stuck))

                // flux-prod at IAM's limit: four more keys; the first of them (Inactive) is what prod-0003 holds.
                let (iam, credentials) = try await RotationTests.iam(fleet)
                let oldKey = try #require(try await RotationTests.activeKeys(fleet).first)
                let inactive = try RSAPrivateKey.generate(bits: 2048)
                let inactiveID = try await iam.uploadSSHPublicKey(
                    userName: "flux-prod", publicKey: inactive.publicKey.openSSH, credentials: credentials,
                    account: "prod"
                ).keyID
                for _ in 0..<3 {
                    _ = try await iam.uploadSSHPublicKey(
                        userName: "flux-prod", publicKey: try RSAPrivateKey.generate(bits: 2048).publicKey.openSSH,
                        credentials: credentials, account: "prod")
                }
                try await iam.updateSSHPublicKey(
                    userName: "flux-prod", keyID: inactiveID, status: .inactive, credentials: credentials,
                    account: "prod")
                let sshPort = try #require(fleet.fixture.lab.info.sshPort)
                let sshURL = { (user: String, repository: String) in
                    "ssh://\(user)@127.0.0.1:\(sshPort)/v1/repos/\(repository)"
                }

                try await Self.replaceKey("prod-0003", with: inactive, fleet, context)
                try await Self.setURL("prod-0003", sshURL(inactiveID, "fleet-prod"), fleet, context)
                try await Self.replaceKey("prod-0005", with: try RSAPrivateKey.generate(bits: 2048), fleet, context)
                // An scp-like URL (`APKA…@host:path`) cannot be planted: Flux's GitRepository schema only takes
                // http, https and ssh URLs, and the API server refuses the rest.
                await #expect(throws: KubeError.self) {
                    try await Self.setURL("prod-0007", "\(oldKey)@127.0.0.1:v1/repos/fleet-prod", fleet, context)
                }
                try await Self.setURL("prod-0009", sshURL("git", "fleet-prod"), fleet, context)
                let stagingKey = try #require(
                    try await RotationTests.keys(fleet, user: "flux-staging", account: "staging").first?.keyID)
                try await Self.setURL("staging-0002", sshURL(stagingKey, "missing"), fleet, context)
                try await Self.patch(
                    "staging-0004", fleet, context,
                    """
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "source-controller", \
                    "namespace": "flux-system",
                     "labels": {"app.kubernetes.io/version": "v2.3.0"}}}
                    """)
                let otherHostKey =
                    "[127.0.0.1]:\(sshPort) \(try RSAPrivateKey.generate(bits: 2048).publicKey.openSSH)\n"
                try await Self.editSecret("staging-0006", fleet, context) { $0["known_hosts"] = otherHostKey }
                try await Self.patch(
                    "prod-0011", fleet, context,
                    """
                    {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": \
                    "flux-system", "namespace": "flux-system"},
                     "spec": {"path": "./missing"}}
                    """)
                // The two that reconcile show it.
                try await Self.waitCondition(
                    "staging-0002", kind: "GitRepository", apiVersion: "source.toolkit.fluxcd.io/v1", fleet, context)
                try await Self.waitCondition(
                    "prod-0011", kind: "Kustomization", apiVersion: "kustomize.toolkit.fluxcd.io/v1", fleet, context)
                // The audit two seconds on: flux-staging's key is older than its maxKeyAge of 1s.
                var audit = FleetAudit(context: context, parallel: 12)
                audit.now = { Date().addingTimeInterval(2) }
                let report = try await audit.run(
                    clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath, inventoryDigest: "test",
                    progress: { _ in })
                let found = Set(report.findings.map { "\($0.code.rawValue) \($0.subject)" })
                let planted: Set<String> = [
                    "key.too-old flux-staging", "key.limit flux-prod", "key.inactive-in-use prod-0003",
                    "key.unknown prod-0005",
                    "url.user-not-key-id prod-0009", "cluster.not-ready staging-0002", "flux.behind staging-0004",
                    "hostkey.changed staging-0006",
                    "cluster.not-bootstrapped staging-0010", "kustomization.not-ready prod-0011",
                    // Three Active keys, and prod-0003 on another key than the rest of its identity.
                    "key.multiple-active flux-prod", "identity.split-across-keys flux-prod",
                ]
                #expect(
                    found == planted,
                    """
                    missing: \(planted.subtracting(found)); unexpected: \
                    \(report.findings.filter { !planted.contains("\($0.code.rawValue) \($0.subject)") })
                    """
                )
                #expect(report.findings.first { $0.code == .keyInactive }?.severity == .critical)
                #expect(report.worst() == .critical)
                // What it read of a healthy cluster.
                let healthy = try #require(report.clusters.first { $0.cluster == "prod-0001" })
                #expect(
                    healthy.fluxInstalled && healthy.fluxVersion == "v2.4.0" && healthy.ready == true
                        && healthy.kustomizationReady == true)
                #expect(healthy.keyID == oldKey && healthy.keyStatus == "Active" && healthy.urlUser == oldKey)
                #expect(report.identities.first { $0.identity == "flux-prod" }?.keys.count == 5)
                // Recorded as an audit run.
                let ledger = context.ledger
                #expect(try await ledger.run(report.runID)?.command == "audit")
                #expect(try await ledger.findings(run: report.runID).count == planted.count)
                #expect(try await ledger.clusters(run: report.runID).count == 12)
            }
        }

        // MARK: Planting

        static func kube(_ cluster: String, _ fleet: LabFleet, _ context: FleetContext) async throws -> KubeClient {
            try await RotationTests.kube(context, try #require(fleet.inventory.cluster(named: cluster)))
        }

        static func patch(_ cluster: String, _ fleet: LabFleet, _ context: FleetContext, _ json: String) async throws {
            let object = try #require(JSONValue.parse(Array(json.utf8)))
            _ = try await kube(cluster, fleet, context).apply(object, fieldManager: "audit-test")
        }

        static func setURL(_ cluster: String, _ url: String, _ fleet: LabFleet, _ context: FleetContext) async throws {
            try await patch(
                cluster, fleet, context,
                """
                {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": \
                "flux-system", "namespace": "flux-system"}, "spec": {"url": "\(url)"}}
                """)
        }

        static func editSecret(
            _ cluster: String, _ fleet: LabFleet, _ context: FleetContext, _ edit: (inout [String: String]) -> Void
        ) async throws {
            let kube = try await kube(cluster, fleet, context)
            let secret = try #require(
                try await kube.get(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system"))
            var data = (secret["data"]?.object ?? [:]).compactMapValues {
                $0.string.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
            }
            edit(&data)
            try await kube.createOrUpdateSecret(namespace: "flux-system", name: "flux-system", data: data)
        }

        static func replaceKey(_ cluster: String, with key: RSAPrivateKey, _ fleet: LabFleet, _ context: FleetContext)
            async throws
        {
            let pem = try key.pem(passphrase: Secret(LabFleet.passphrase)).reveal()
            try await editSecret(cluster, fleet, context) { data in
                data = SecretData.ssh(
                    privateKeyPEM: pem, publicKey: key.publicKey.openSSH, knownHosts: data["known_hosts"] ?? "",
                    passphrase: LabFleet.passphrase)
            }
        }

        static func waitCondition(
            _ cluster: String, kind: String, apiVersion: String, _ fleet: LabFleet, _ context: FleetContext
        ) async throws {
            let kube = try await kube(cluster, fleet, context)
            for _ in 0..<100 {
                let object = try await kube.get(
                    apiVersion: apiVersion, kind: kind, namespace: "flux-system", name: "flux-system")
                if KubeClient.condition(object, "Ready")?["status"]?.string == "False" { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            Issue.record("\(kind) on \(cluster) never became Ready=False")
        }
    }
}
