// fleetstrap-lab as a user runs it: loopback only, a state file, a clean stop on SIGTERM, an inventory that
// fleetstrap accepts.
import Foundation
import TestSupport
import Testing

@Suite("fleetstrap-lab (binary)", .serialized)
struct LabCommandTests {
    var lab: String { Binary.productsDirectory.appendingPathComponent("fleetstrap-lab").path }

    @Test func refusesToListenBeyondLoopback() async throws {
        let result = try await runCommand([lab, "serve", "--listen", "0.0.0.0", "--state", "/tmp/never-created"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("loopback only"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-created"))
    }

    @Test func generatedInventoryIsValidForFleetstrap() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lab-inventory-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let generated = try await runCommand([lab, "inventory", "--accounts", "3", "--clusters", "30", "-o", file])
        #expect(generated.status == 0, "\(generated.stderr)")
        let validated = try Binary.run(["validate", "-f", file])
        #expect(validated.status == 0, "\(validated.stderr)")
        #expect(validated.stdout.contains("30 clusters in 3 accounts"))
    }

    @Test func servesUntilSIGTERMAndStopsItsSSHD() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("lab-state-\(UUID())")
        defer { try? FileManager.default.removeItem(at: state) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lab)
        process.arguments = ["serve", "--state", state.path, "--clusters", "2"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { PeerServer.stop(process) }
        // Wait for the state file (start-up takes about a second).
        let json = state.appendingPathComponent("lab.json")
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: json.path) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        #expect((info["endpoint"] as? String)?.hasPrefix("https://127.0.0.1:") == true)
        let sshdPID = (try? String(contentsOf: state.appendingPathComponent("ssh/sshd.pid"), encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        process.terminate()
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        if let sshdPID {
            #expect(kill(sshdPID, 0) != 0, "sshd stopped with the lab")
        }
    }

    @Test func faultsCountersAndRivalPushesOfARunningLab() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("lab-state-\(UUID())")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: state) }
        let faults = state.appendingPathComponent("faults.yaml").path
        try "stuckClusters: [prod-0001]\nrules:\n- service: iam\n  error: throttling\n  count: 1\n".write(
            toFile: faults, atomically: true, encoding: .utf8)
        let bad = try await runCommand([
            lab, "serve", "--state", state.path, "--no-ssh", "--faults", faults, "--clusters", "0",
        ])
        #expect(bad.status != 0 && bad.stderr.contains("unknown cluster 'prod-0001'"), "\(bad.stderr)")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: lab)
        process.arguments = [
            "serve", "--state", state.path, "--no-ssh", "--clusters", "2", "--faults", faults, "--scale-mode",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { PeerServer.stop(process) }
        let json = state.appendingPathComponent("lab.json")
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: json.path) {
            try await Task.sleep(for: .milliseconds(100))
        }

        let shown = try await runCommand([lab, "faults", "--state", state.path])
        #expect(
            shown.status == 0 && String(decoding: shown.stdout, as: UTF8.self).contains("prod-0001"), "\(shown.stderr)")
        let cleared = state.appendingPathComponent("none.yaml").path
        try "".write(toFile: cleared, atomically: true, encoding: .utf8)
        #expect(try await runCommand([lab, "faults", "--state", state.path, cleared]).status == 0)
        let refused = try await runCommand([
            lab, "faults", "--state", state.path, faults.replacingOccurrences(of: "faults.yaml", with: "missing.yaml"),
        ])
        #expect(refused.status != 0)
        let pushed = try await runCommand([
            lab, "rival-push", "--state", state.path, "--account", "prod", "--repository", "fleet-prod",
        ])
        #expect(
            pushed.status == 0 && String(decoding: pushed.stdout, as: UTF8.self).contains("commit"), "\(pushed.stderr)")
        let counters = try await runCommand([lab, "counters", "--state", state.path])
        #expect(String(decoding: counters.stdout, as: UTF8.self).contains("\"throttled\""))
        #expect(try await runCommand([lab, "counters", "--state", state.path, "--reset"]).status == 0)
        let none = try await runCommand([lab, "counters", "--state", "/nonexistent"])
        #expect(none.status != 0 && none.stderr.contains("no running lab"))
    }
}
