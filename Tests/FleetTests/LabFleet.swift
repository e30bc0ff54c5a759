// A lab fleet and the fleetstrap context that bootstraps it: the lab's generated config, the inventory
// `fleetstrap-lab inventory` writes for it (Flux v2.4.0 from the copy in inventories/), a ledger and state folder.
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

/// The suites that run fleets in the lab, one after another: each starts a lab with tens of clusters, sshd and git
/// processes, and on two cores they starve each other (and the rest of the test run) when they run at once.
@Suite("Fleet against the lab", .serialized, .tags(.integration))
struct LabFleetSuites {}

struct LabFleet {
    let fixture: LabFixture
    let inventory: Inventory
    let inventoryPath: String
    let ledgerPath: String
    let stateDirectory: String
    static let passphrase = "lab-fleet-passphrase"

    static let manifests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("inventories/flux-v2.4.0/gotk-components.yaml").path

    static var sshReason: String {
        "Git over SSH in the lab runs sshd, which needs root and openssh-server (CI has both)"
    }
    static var sshAvailable: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    static func start(
        accounts: Int, clusters: Int, repositoriesPerAccount: Int = 1, faults: LabFaults? = nil, rollout: String? = nil,
        transports: [String] = ["ssh"]
    ) async throws -> LabFleet {
        var config = LabConfig.generated(
            accounts: accounts, clusters: clusters, regions: ["eu-west-1", "us-east-1", "ap-southeast-2"],
            repositoriesPerAccount: repositoriesPerAccount)
        config.controllers = .init(deploymentDelay: "100ms")
        config.faults = faults
        let fixture = try await LabFixture(ssh: true, config: config)
        do {
            var text = LabInventory.render(
                config, sshPort: fixture.lab.info.sshPort, fluxVersion: "2.4.0", manifests: manifests,
                transports: transports, info: fixture.lab.info)
            if let rollout {
                // Replace the generated rollout block.
                let start = text.range(of: "  rollout:\n")!
                let end = text.range(of: "accounts:\n")!
                text.replaceSubrange(start.lowerBound..<end.lowerBound, with: rollout)
            }
            let inventoryPath = fixture.directory.appendingPathComponent("fleet.yaml").path
            try text.write(toFile: inventoryPath, atomically: true, encoding: .utf8)
            let inventory = try InventoryLoader.load(path: inventoryPath)
            return LabFleet(
                fixture: fixture, inventory: inventory, inventoryPath: inventoryPath,
                ledgerPath: fixture.directory.appendingPathComponent("fleetstrap.db").path,
                stateDirectory: fixture.directory.appendingPathComponent("state").path)
        } catch {
            // A fleet that could not be made leaves no lab running.
            await fixture.stop()
            throw error
        }
    }

    /// Starts a fleet, runs `body` on it and stops it whether `body` returned or threw: a test's lab is gone before
    /// the next test starts (a `defer` cannot await the stop).
    static func with(
        accounts: Int, clusters: Int, repositoriesPerAccount: Int = 1, faults: LabFaults? = nil, rollout: String? = nil,
        transports: [String] = ["ssh"],
        _ body: (LabFleet) async throws -> Void
    ) async throws {
        let fleet = try await start(
            accounts: accounts, clusters: clusters, repositoriesPerAccount: repositoriesPerAccount, faults: faults,
            rollout: rollout, transports: transports)
        do {
            try await body(fleet)
        } catch {
            await fleet.stop()
            throw error
        }
        await fleet.stop()
    }

    /// What the fleetstrap binary needs in its environment to reach the lab.
    var environment: [String: String] {
        var environment = fixture.lab.environment
        environment[LabInventory.passphraseVariable] = Self.passphrase
        environment["PATH"] = "/usr/bin:/bin"
        environment["HOME"] = fixture.directory.path
        return environment
    }

    func context(wait: WaitSettings = WaitSettings(timeout: .seconds(30), poll: .seconds(1))) async throws
        -> FleetContext
    {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        var configuration = try AWSClient.Configuration.environment(fixture.lab.environment)
        configuration.random = { 0 }
        return try await FleetContext(
            inventory: inventory, aws: AWSClient(configuration: configuration),
            baseCredentials: fixture.operatorCredentials,
            ledger: try Ledger(path: ledgerPath), stateDirectory: stateDirectory, wait: wait, environment: environment)
    }

    func bareRepository(_ name: String, account: String) -> String {
        "\(fixture.lab.info.repositoriesRoot)/\(account)/\(name).git"
    }

    func stop() async { await fixture.stop() }
}
