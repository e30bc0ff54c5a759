// `fleetstrap bootstrap`/`plan`/`runs` refusing bad input before touching anything, with distinct exit codes.
import Foundation
import TestSupport
import Testing

@Suite("fleetstrap bootstrap (binary): bad input")
struct BootstrapCommandTests {
    let inventory = "inventories/quick-start.yaml"

    @Test func badInputExitsWithTwoAndSaysWhy() throws {
        let missing = try Binary.run(["bootstrap", "-f", "/nonexistent/fleet.yaml"])
        #expect(missing.status == 2)
        let waves = try Binary.run(["bootstrap", "-f", inventory, "--waves", "1,lots"])
        #expect(waves.status == 2 && waves.stderr.contains("--waves '1,lots'"), "\(waves.stderr)")
        let budget = try Binary.run(["plan", "-f", inventory, "--max-failures", "some"])
        #expect(budget.status == 2 && budget.stderr.contains("--max-failures"))
        let selector = try Binary.run(["bootstrap", "-f", inventory, "--selector", "env in (prod"])
        #expect(selector.status == 2 && selector.stderr.contains("invalid selector"))
        let names = try Binary.run(["bootstrap", "-f", "inventories/example-fleet.yaml", "--cluster", "prod-eu-l"])
        #expect(names.status == 2 && names.stderr.contains("no such cluster"), "\(names.stderr)")
    }

    /// kubectl's `-l` and `-o`, flux's `--timeout`: taken as those tools spell them (the run then stops for want of
    /// credentials, exit 3, which shows the options were read).
    @Test func selectorOutputAndTimeoutAsKubectlAndFluxSpellThem() throws {
        let scratch = try TemporaryFolder("fleetstrap-conventions")
        let environment = [
            "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true", "HOME": scratch.path,
            "PATH": "/usr/bin:/bin",
        ]
        for command in ["plan", "bootstrap", "rotate", "audit"] {
            let result = try Binary.run(
                [
                    command, "-f", inventory, "-l", "env in (prod,staging)", "-o", "json", "--timeout", "2m",
                    "--ledger", scratch.file("f.db").path, "--state-dir", scratch.file("state").path,
                ],
                environment: environment)
            #expect(
                result.status == 3 && result.stderr.contains("no usable AWS credentials"),
                "\(command): \(result.stderr)")
        }
        let badTimeout = try Binary.run(["plan", "-f", inventory, "--timeout", "soon"], environment: environment)
        #expect(
            badTimeout.status == 2 && badTimeout.stderr.contains("--timeout 'soon' is not a duration"),
            "\(badTimeout.stderr)")
    }

    @Test func aLedgerThatCannotBeOpenedExitsWithThree() throws {
        let scratch = try TemporaryFolder("fleetstrap-state")
        let state = scratch.file("state").path
        let result = try Binary.run(
            ["bootstrap", "-f", inventory, "--ledger", "/nonexistent/dir/fleetstrap.db", "--state-dir", state],
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1",
                "AWS_EC2_METADATA_DISABLED": "true", "PATH": "/usr/bin:/bin",
            ])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("cannot open the ledger /nonexistent/dir/fleetstrap.db"))
        #expect(!FileManager.default.fileExists(atPath: state), "a run refused for its ledger creates no state folder")
        // No credentials at all: refused once, before any cluster starts and before anything is made (exit 3).
        let none = try Binary.run(
            ["bootstrap", "-f", inventory, "--ledger", state + "/fleetstrap.db", "--state-dir", state, "--no-reports"],
            environment: [
                "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true", "HOME": scratch.path,
                "PATH": "/usr/bin:/bin",
            ])
        #expect(none.status == 3, "\(none.stderr)")
        #expect(
            none.stderr.components(separatedBy: "no usable AWS credentials").count == 2, "said once: \(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: state), "\(none.stderr)")
        // A ledger inside a state folder that does not exist yet is fine: the folder is made first. (The run then
        // fails at AWS, the key being made up, with the clusters' exit status, and journaled.)
        let inside = try Binary.run(
            ["bootstrap", "-f", inventory, "--ledger", state + "/fleetstrap.db", "--state-dir", state, "--no-reports"],
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1",
                "AWS_EC2_METADATA_DISABLED": "true", "HOME": scratch.path, "PATH": "/usr/bin:/bin",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1",
            ])
        #expect(inside.status == 1, "\(inside.stderr)")
        #expect(!inside.stderr.contains("cannot open the ledger"))
        #expect(FileManager.default.fileExists(atPath: state + "/fleetstrap.db"))
        // Nothing to resume without the ledger: refused, and no ledger is made.
        for command in ["bootstrap", "rotate"] {
            let resume = try Binary.run([
                command, "-f", inventory, "--resume-last", "--ledger", scratch.file("none.db").path, "--state-dir",
                state,
            ])
            #expect(resume.status == 2 && resume.stderr.contains("there is no run to resume"), "\(resume.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.file("none.db").path))
        }
        let runs = try Binary.run(["runs", "--ledger", "/nonexistent/fleetstrap.db"])
        #expect(runs.status == 3 && runs.stderr.contains("no ledger"))
    }
}

@Suite("fleetstrap rotate and audit (binary): bad input")
struct RotateAuditCommandTests {
    @Test func badInputExitsWithTwoAndSaysWhy() throws {
        let inventory = "inventories/example-fleet.yaml"
        let identity = try Binary.run(["rotate", "-f", inventory, "--identity", "flux-prd"])
        #expect(
            identity.status == 2 && identity.stderr.contains("--identity flux-prd: no such identity")
                && identity.stderr.contains("did you mean 'flux-prod'"), "\(identity.stderr)")
        let age = try Binary.run(["rotate", "-f", inventory, "--older-than", "three months"])
        #expect(
            age.status == 2 && age.stderr.contains("--older-than 'three months' is not a duration"), "\(age.stderr)")
        let grace = try Binary.run(["rotate", "-f", inventory, "--grace", "soon"])
        #expect(grace.status == 2, "\(grace.stderr)")
        let severity = try Binary.run(["audit", "-f", inventory, "--fail-on", "fatal"])
        #expect(severity.status == 2 && severity.stderr.contains("fail-on"), "\(severity.stderr)")
        let missing = try Binary.run(["audit", "-f", "/nonexistent/fleet.yaml"])
        #expect(missing.status == 2)
        let format = try Binary.run(["report", "--format", "html,pdf", "--ledger", "/nonexistent/fleetstrap.db"])
        #expect(
            format.status == 2 && format.stderr.contains("--format pdf: one of html, json, junit, md"),
            "\(format.stderr)")
        let ledger = try Binary.run(["report", "latest", "--ledger", "/nonexistent/fleetstrap.db"])
        #expect(ledger.status == 3 && ledger.stderr.contains("no ledger"), "\(ledger.stderr)")
    }
}
