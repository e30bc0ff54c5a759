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
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("teams"), withIntermediateDirectories: true)
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
        #expect(
            result.errors.map(\.description) == [
                "/nonexistent/fleet.yaml:1:1: error: cannot read '/nonexistent/fleet.yaml': no such file"
            ])
    }

    @Test func aSymlinkLoopAFIFOAndAByteOrderMarkAreEachSaidForWhatTheyAre() throws {
        try write("fleet.yaml", Fixture.yaml(appending: ["include: [loop.yaml]"]))
        let loop = directory.appendingPathComponent("loop.yaml").path
        #expect(symlink(loop, loop) == 0)
        let looped = InventoryLoader.validate(path: directory.appendingPathComponent("fleet.yaml").path)
        #expect(
            looped.errors.count == 1
                && looped.errors[0].message.hasSuffix("loop.yaml': its symbolic links form a loop"), "\(looped.errors)")

        // A FIFO would block for ever waiting for a writer: refused without reading it.
        let fifo = directory.appendingPathComponent("fleet.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let piped = InventoryLoader.validate(path: fifo)
        #expect(
            piped.errors.count == 1 && piped.errors[0].message.hasSuffix("fleet.fifo': it is a pipe (FIFO)"),
            "\(piped.errors)")

        // A UTF-8 byte order mark, as some Windows editors write: not part of the YAML.
        try write("bom.yaml", "\u{FEFF}" + Fixture.yaml())
        let bom = InventoryLoader.validate(path: directory.appendingPathComponent("bom.yaml").path)
        #expect(bom.errors.isEmpty, "\(bom.errors)")
        #expect(bom.inventory?.clusters.map(\.name) == ["one"])
    }

    @Test func namesThatDifferOnlyInCaseAreRefused() {
        let result = Fixture.validate(appending: ["  - name: ONE", "    path: clusters/upper"])
        #expect(result.errors.count == 1, "\(result.errors)")
        #expect(result.errors.first?.message == "cluster name 'ONE' differs from 'one' only in case")
        #expect(result.errors.first?.location.line == 23)
    }
}
