// What fleetstrap itself spends per cluster, away from any network: validating an inventory of 10,000 clusters,
// generating a cluster's manifests (the shared components rendered once, then per cluster its sync files), and
// rendering the reports of a 10,000-cluster run. Each is timed over whole runs, best of `repeats`.
import Flux
import Foundation
import Inventory
import Reports

struct FleetMicroBenchmarks {
    let clusters = 10_000
    let repeats = 3
    let manifests: String

    struct Result: Codable {
        var benchmark = "fleet-micro"
        var clusters: Int
        var inventoryValidationSeconds: Double
        var inventoryClustersPerSecond: Double
        var componentsRenderMilliseconds: Double
        var syncManifestsMicrosecondsPerCluster: Double
        var reportRenderSeconds: [String: Double]
        var reportHTMLBytes: Int
        var note =
            "best of 3; release build; components rendered once per (version, options) and shared by every cluster"
    }

    /// An inventory of `clusters` clusters over 10 accounts, 30 repositories and 10 identities.
    func inventoryText() -> String {
        var text = "apiVersion: fleetstrap.io/v1\nkind: Fleet\ndefaults:\n  flux: {version: 2.4.0}\naccounts:\n"
        for a in 0..<10 {
            text +=
                """
                  - {name: acct\(a), id: \"\(String(repeating: String(a), count: 12))\", region: eu-west-1, roleArn: \
                \"arn:aws:iam::\(String(repeating: String(a), count: 12)):role/fleetstrap\"}\n
                """
        }
        text += "identities:\n"
        for a in 0..<10 { text += "  - {name: flux-\(a), account: acct\(a), passphrase: {env: P}, maxKeyAge: 90d}\n" }
        text += "repositories:\n"
        for r in 0..<30 {
            text += "  - {name: repo-\(r), account: acct\(r % 10), codecommit: repo-\(r), identity: flux-\(r % 10)}\n"
        }
        text += "clusters:\n"
        for c in 0..<clusters {
            let r = c % 30
            text +=
                """
                  - {name: cluster-\(String(format: "%05d", c)), account: acct\(r % 10), repository: repo-\(r), \
                labels: {env: \(c % 3 == 0 ? "prod" : "staging"), tier: t\(c % 4)}}\n
                """
        }
        return text
    }

    func best(_ body: () throws -> Void) rethrows -> Double {
        var fastest = Double.infinity
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            try body()
            fastest = min(fastest, (ContinuousClock.now - start).seconds)
        }
        return fastest
    }

    func run() throws -> Result {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).yaml").path
        try inventoryText().write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var inventory: Inventory?
        let validation = try best { inventory = try InventoryLoader.load(path: path) }
        guard let inventory, inventory.clusters.count == clusters else {
            throw BenchFailure("the generated inventory did not load")
        }

        let parsed = try ComponentManifests.parse(
            try String(contentsOfFile: manifests, encoding: .utf8), source: manifests)
        let components = try best {
            _ = try parsed.render(InstallOptions(components: inventory.clusters[0].flux.allComponents))
        }
        let sync = best {
            for cluster in inventory.clusters {
                let settings = SyncSettings(
                    url: "ssh://APKAEXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/\(cluster.repository)",
                    branch: "main", path: cluster.path)
                _ = SyncManifests.render(settings)
                _ = SyncManifests.kustomization()
            }
        }

        let report = syntheticReport(inventory)
        var rendering: [String: Double] = [:]
        var htmlBytes = 0
        rendering["json"] = try best { _ = try report.json() }
        rendering["junit"] = best { _ = report.junit() }
        rendering["md"] = best { _ = report.markdown() }
        rendering["html"] = try best { htmlBytes = try report.html().utf8.count }
        return Result(
            clusters: clusters, inventoryValidationSeconds: validation,
            inventoryClustersPerSecond: Double(clusters) / validation,
            componentsRenderMilliseconds: components * 1000,
            syncManifestsMicrosecondsPerCluster: sync / Double(clusters) * 1_000_000,
            reportRenderSeconds: rendering, reportHTMLBytes: htmlBytes)
    }

    /// A finished bootstrap of every cluster of `inventory`, nine steps each, a few failures.
    func syntheticReport(_ inventory: Inventory) -> RunReport {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let names = ["credentials", "describe", "preflight", "key", "commit", "components", "secret", "sync", "wait"]
        let clusters = inventory.clusters.enumerated().map { i, cluster in
            let failed = i % 500 == 7
            return RunReport.Cluster(
                name: cluster.name, account: cluster.account, region: cluster.region, repository: cluster.repository,
                labels: cluster.labels, wave: i * 4 / max(1, inventory.clusters.count),
                status: failed ? "failed" : "succeeded", step: failed ? "wait" : "wait",
                revision: failed ? nil : "main@sha1:" + String(repeating: String(i % 10), count: 40),
                keyId: "APKAEXAMPLE000000001", errorClass: failed ? "timeout" : nil,
                errorMessage: failed ? "did not finish within the cluster timeout of 10m" : nil,
                startedAt: start.addingTimeInterval(Double(i) / 20),
                endedAt: start.addingTimeInterval(Double(i) / 20 + 30), seconds: 30,
                steps: names.map {
                    RunReport.Step(
                        name: $0, state: "finished", startedAt: start, milliseconds: 40, attempts: 1, detail: nil)
                })
        }
        var summary = RunReport.Summary()
        summary.clusters = clusters.count
        summary.failed = clusters.filter { $0.status == "failed" }.count
        summary.succeeded = clusters.count - summary.failed
        summary.waves = 4
        return RunReport(
            generatedAt: start,
            runs: [
                .init(
                    id: "run-bench", command: "bootstrap", inventory: "fleet.yaml", outcome: "failed", startedAt: start,
                    endedAt: start.addingTimeInterval(600), seconds: 600)
            ],
            summary: summary, clusters: clusters, events: [], rotations: [], keys: [], findings: [])
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
