// Keeping the lab honest: boto3, the AWS CLI, git with the AWS CLI's credential helper and OpenSSH, pointed at it;
// the same calls against moto give the same shapes.
import FleetLab
import Foundation
import LabSupport
import TestSupport
import Testing

@Suite("Lab: independent clients", .serialized, .tags(.integration))
struct LabPeerTests {
    static var botoAvailable: Bool { Python.hasModules("boto3", "awscli") }

    @Test func realClientsWorkAgainstTheLab() async throws {
        try #require(
            Self.botoAvailable, "boto3 and the AWS CLI are not installed: scripts/install-deps.sh installs them")
        try #require(MotoServer.available, "moto_server is not installed: scripts/install-deps.sh installs it")
        let sshExpected = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
        let moto: MotoServer? = try MotoServer(lifetime: 300)
        defer { moto?.stop() }
        let (status, data, stderr) = try await withLab(ssh: true) { fixture in
            let work = fixture.directory.appendingPathComponent("clients")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "lab_clients.py")
            return try await runCommand(
                ["python3", script.path, fixture.directory.appendingPathComponent("lab.json").path, work.path]
                    + (moto.map { [$0.endpoint] } ?? []))
        }
        try #require(status == 0, "lab_clients.py failed: \(stderr.suffix(4000))")
        let checks = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        for check in checks {
            #expect(check["ok"] as? Bool == true, "\(check["name"] ?? "?"): \(check["detail"] ?? "")")
        }
        let names = Set(checks.compactMap { $0["name"] as? String })
        #expect(names.contains("git push over HTTPS"))
        if sshExpected {
            #expect(names.contains("SSH refuses an Inactive key at once"))
        }
        if moto != nil { #expect(names.contains("same shape as moto: AssumeRole")) }
        #expect(checks.count >= 14)
    }
}

extension Tag {
    /// Slow end-to-end tests with real peers.
    @Tag static var integration: Self
}
