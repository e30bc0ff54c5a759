// The commands called in-process through FleetstrapCommandLine.run, as the executable calls them: exit statuses for
// good input, bad input and bad options, with no binary spawned.
import FleetstrapCommands
import Foundation
import Testing

@Suite("fleetstrap commands (in-process)")
struct InProcessCommandTests {
    static func inventory(_ name: String) -> String {
        Binary.packageRoot.appendingPathComponent(name).path
    }

    @Test func versionHelpAndValidInventoriesExitZero() async {
        #expect(await FleetstrapCommandLine.run(["--version"]) == 0)
        #expect(await FleetstrapCommandLine.run(["validate", "--help"]) == 0)
        #expect(
            await FleetstrapCommandLine.run(["validate", "-f", Self.inventory("inventories/example-fleet.yaml")]) == 0)
        #expect(
            await FleetstrapCommandLine.run([
                "validate", "-f", Self.inventory("inventories/example-fleet.yaml"), "-l", "env=prod", "-o", "json",
            ]) == 0)
    }

    @Test func badInventoriesAndBadOptionsExitTwo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("inproc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["duplicate-key.yaml", "wrong-types.yaml", "unclosed-quote.yaml"] {
            let path = Self.inventory("Tests/InventoryTests/Corpus/\(name)")
            #expect(await FleetstrapCommandLine.run(["validate", "-f", path]) == 2, "\(name)")
        }
        let missing = directory.appendingPathComponent("absent.yaml").path
        #expect(await FleetstrapCommandLine.run(["validate", "-f", missing]) == 2)
        #expect(await FleetstrapCommandLine.run(["validate", "--no-such-option"]) == 2)
        #expect(await FleetstrapCommandLine.run(["no-such-command"]) == 2)
        let example = Self.inventory("inventories/example-fleet.yaml")
        // Options are checked before anything is opened or asked of AWS: no ledger appears.
        let ledger = directory.appendingPathComponent("fleetstrap.db").path
        for options in [["--timeout", "banana"], ["--waves", "0"], ["--max-failures", "101%"], ["--parallel", "0"]] {
            let status = await FleetstrapCommandLine.run(["plan", "-f", example, "--ledger", ledger] + options)
            #expect(status == 2, "\(options)")
        }
        #expect(!FileManager.default.fileExists(atPath: ledger))
    }
}
