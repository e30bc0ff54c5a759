// Inventories split across files with `include:`.
import Foundation
import Inventory
import TestSupport
import Testing

@Suite("Includes")
struct IncludeTests {
    let folder: TemporaryFolder
    var directory: URL { folder.url }

    init() throws {
        folder = try TemporaryFolder("fleetstrap-include")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("teams"), withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    @Test func includedFilesAddEntriesAndReportTheirOwnPositions() throws {
        try write("fleet.yaml", Fixture.yaml(appending: ["include: [teams/payments.yaml]"]))
        try write(
            "teams/payments.yaml",
            """
            clusters:
              - name: payments-1
                labels: {team: payments}
              - name: payments-2
                region: eu-wst-1
            """)
        let path = directory.appendingPathComponent("fleet.yaml").path
        let result = InventoryLoader.validate(path: path)
        #expect(result.errors.count == 1)
        let error = try #require(result.errors.first)
        #expect(error.location.file == directory.appendingPathComponent("teams/payments.yaml").path)
        #expect(error.location.line == 5 && error.location.column == 13)

        try write(
            "teams/payments.yaml",
            "clusters:\n  - name: payments-1\n    labels: {team: payments}\n  - name: payments-2\n")
        let inventory = try InventoryLoader.load(path: path)
        #expect(inventory.clusters.map(\.name) == ["one", "payments-1", "payments-2"])
        #expect(inventory.files.count == 2)
    }

    @Test func cyclesAndDefaultsInIncludesAreRefused() throws {
        try write("fleet.yaml", Fixture.yaml(appending: ["include: [a.yaml]"]))
        try write("a.yaml", "include: [b.yaml]\n")
        try write("b.yaml", "include: [fleet.yaml]\ndefaults: {region: eu-west-1}\n")
        let result = InventoryLoader.validate(path: directory.appendingPathComponent("fleet.yaml").path)
        #expect(Set(result.errors.map(\.rule)) == ["include-cycle", "include-defaults"])
    }

    @Test func missingFileIsAnError() {
        let result = InventoryLoader.validate(path: "/nonexistent/fleet.yaml")
        #expect(result.errors.map(\.description) == ["/nonexistent/fleet.yaml:1:1: error: cannot read '/nonexistent/fleet.yaml': no such file"])
    }
}
