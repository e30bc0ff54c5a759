// `fleetstrap validate` and the top-level flags, run as the built binary.
import Foundation
import Testing

@Suite("fleetstrap validate (binary)")
struct ValidateCommandTests {
    @Test func versionAndHelp() throws {
        let version = try Binary.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try Binary.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("validate"))
        #expect(help.stdout.contains("Exit codes"))
        let completion = try Binary.run(["--generate-completion-script", "bash"])
        #expect(completion.status == 0)
        #expect(completion.stdout.contains("_fleetstrap"))
    }

    @Test func exampleFleetIsValidWithASummary() throws {
        let result = try Binary.run(["validate", "-f", "inventories/example-fleet.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("inventories/example-fleet.yaml (acme-platform): valid"))
        #expect(result.stdout.contains("30 clusters in 3 accounts, 3 regions, 3 repositories, 2 identities"))
        #expect(
            result.stdout.contains(
                """
                  fleet-prod           12  ssh          \
                ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet-prod
                """
            ))
        let quick = try Binary.run(["validate", "-f", "inventories/quick-start.yaml"])
        #expect(quick.status == 0)
    }

    @Test func selectorCountsMatchingClusters() throws {
        let result = try Binary.run([
            "validate", "-f", "inventories/example-fleet.yaml", "--selector", "env=prod,tier!=edge",
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("10 clusters selected by 'env=prod,tier!=edge' of 30"))
        let bad = try Binary.run(["validate", "-f", "inventories/example-fleet.yaml", "--selector", "env=,"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("invalid selector"))
    }

    @Test func brokenInventoryExitsTwoWithPositionedErrors() throws {
        let corpus = "Tests/InventoryTests/Corpus/scp-url-and-git-user.yaml"
        let result = try Binary.run(["validate", "-f", corpus])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderr.contains(
                "\(corpus):12:10: error: repository 'r1': scp-like URLs (host:path) are not supported by Flux"))
        #expect(result.stderr.contains("    hint: write url: ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/r1"))
        #expect(result.stderr.hasSuffix("\(corpus): invalid: 2 errors\n"))
    }

    @Test func jsonOutputIsOneDocument() throws {
        let result = try Binary.run([
            "validate", "-f", "Tests/InventoryTests/Corpus/scp-url-and-git-user.yaml", "-o", "json",
        ])
        #expect(result.status == 2)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == false)
        #expect(object?["errors"] as? Int == 2)
        let first = (object?["diagnostics"] as? [[String: Any]])?.first
        #expect(first?["rule"] as? String == "scp-url")
        #expect(first?["line"] as? Int == 12)
        #expect(first?["column"] as? Int == 10)

        let valid = try Binary.run(["validate", "-f", "inventories/example-fleet.yaml", "--output", "json"])
        let summary =
            (try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any])?["summary"]
            as? [String: Any]
        #expect((summary?["accounts"] as? [String: Int]) == ["prod": 12, "staging": 10, "dev": 8])
    }

    @Test func missingFileIsInvalidInput() throws {
        let result = try Binary.run(["validate", "-f", "/nonexistent.yaml"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot read '/nonexistent.yaml': no such file"))
    }
}
