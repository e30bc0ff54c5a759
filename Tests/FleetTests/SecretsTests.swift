// Nothing fleetstrap writes holds a private key or a passphrase: bootstrap, rotate (with --verbose and JSON logs),
// a dry run, an audit and reports are run as a user would, and every byte of their output, the ledger, the reports
// and the state folder is searched for the passphrase and for the private keys in clear. The only key material on disk
// is the key store (the PEM encrypted with the passphrase), mode 0600, like the ledger.
import Fleet
import FleetCrypto
import FleetLab
import FleetSupport
import Foundation
import Inventory
import Kube
import LabSupport
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: no secret in anything fleetstrap writes", .serialized, .tags(.integration))
    struct SecretsTests {
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func bootstrapRotateAndAuditLeaveNoKeyOrPassphraseBehind() async throws {
            // Two repositories: one over SSH (a key, rotated here), one over HTTPS with an IAM Git credential (a
            // password, which the inventory reads from the environment, so it is not rotated here).
            try await LabFleet.with(
                accounts: 1, clusters: 4, repositoriesPerAccount: 2, transports: ["ssh", "https-token"]
            ) { fleet in
                let reports = fleet.fixture.directory.appendingPathComponent("reports").path
                let common = [
                    "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath, "--state-dir", fleet.stateDirectory,
                    "--wait-timeout", "60s", "--reports", reports,
                ]
                var outputs: [String: Data] = [:]
                func run(_ name: String, _ arguments: [String]) async throws -> Int32 {
                    let result = try await runCommand(
                        [ResumeTests.binary.path] + arguments, environment: fleet.environment)
                    outputs["\(name).stdout"] = Data(result.stdout)
                    outputs["\(name).stderr"] = Data(result.stderr.utf8)
                    return result.status
                }
                func said(_ streams: String...) -> String {
                    String(decoding: streams.flatMap { outputs[$0] ?? Data() }, as: UTF8.self)
                }
                #expect(
                    try await run("bootstrap", ["bootstrap"] + common + ["-v"]) == 0,
                    "\(String(decoding: outputs["bootstrap.stderr"] ?? Data(), as: UTF8.self))")
                let context = try await fleet.context()
                let cluster = try #require(fleet.inventory.clusters.first)
                let oldKey = try await Self.clusterKey(context, cluster)
                #expect(
                    try await run(
                        "plan", ["rotate"] + common + ["--identity", "flux-prod", "--dry-run", "--output", "json"])
                        == 0,
                    "\(said("plan.stdout", "plan.stderr").suffix(1500))"
                )
                #expect(
                    try await run(
                        "rotate", ["rotate"] + common + ["--identity", "flux-prod", "-v", "--log-format", "json"]) == 0,
                    "\(String(decoding: outputs["rotate.stderr"] ?? Data(), as: UTF8.self).suffix(1500))")
                #expect(
                    try await run(
                        "rotate-scheduled",
                        ["rotate"] + common + ["--identity", "flux-prod", "-v", "--older-than", "90d"]) == 0,
                    "a young key: nothing due")
                #expect(
                    try await run("audit", ["audit"] + common + ["--output", "json"]) == 0,
                    "\(String(decoding: outputs["audit.stdout"] ?? Data(), as: UTF8.self))")
                #expect(
                    try await run(
                        "report", ["report", "latest", "--ledger", fleet.ledgerPath, "--out", reports + "/again"]) == 0)
                #expect(
                    try await run(
                        "merge",
                        [
                            "report", "--merge", fleet.ledgerPath, fleet.ledgerPath, "--format", "json,md", "--out",
                            reports + "/merged",
                        ]) == 0)
                let newKey = try await Self.clusterKey(context, cluster)
                #expect(oldKey.clear != newKey.clear, "the rotation changed the key")
                // Sentinels: the operator's AWS secret key, the Git password a cluster holds now, any EKS token.
                let httpsCluster = try #require(
                    fleet.inventory.clusters.first {
                        fleet.inventory.repository(named: $0.repository)?.transport == .httpsToken
                    })
                let gitSecret = try #require(
                    try await RotationTests.kube(context, httpsCluster).get(
                        apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system"))
                let gitPassword = String(
                    decoding: Data(base64Encoded: gitSecret[path: "data.password"]?.string ?? "") ?? Data(),
                    as: UTF8.self)
                #expect(gitPassword.count >= 20, "the https-token cluster holds a Git password")
                let sentinels = [
                    "the AWS secret access key": try #require(fleet.environment["AWS_SECRET_ACCESS_KEY"]),
                    "a Git password": gitPassword,
                    "an EKS token": "k8s-aws-v1.", "the passphrase": LabFleet.passphrase,
                ]

                // Everything fleetstrap wrote: its output, the ledger and its journal, the state folder.
                var files = outputs
                for path in [fleet.ledgerPath, fleet.ledgerPath + "-wal", fleet.ledgerPath + "-shm"]
                where FileManager.default.fileExists(atPath: path) {
                    files[path] = FileManager.default.contents(atPath: path)
                }
                let enumerator = FileManager.default.enumerator(atPath: fleet.stateDirectory)
                while let relative = enumerator?.nextObject() as? String {
                    let path = fleet.stateDirectory + "/" + relative
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                        files[path] = FileManager.default.contents(atPath: path)
                    }
                }
                #expect(files.count > 10, "\(files.keys.sorted())")
                // Every run wrote its four reports.
                let folders = try FileManager.default.contentsOfDirectory(atPath: reports).filter {
                    $0.hasPrefix("run-") || $0.hasPrefix("audit-")
                }
                #expect(folders.count >= 3, "\(folders)")
                for folder in folders {
                    #expect(
                        Set(try FileManager.default.contentsOfDirectory(atPath: reports + "/" + folder)) == [
                            "report.html", "report.json", "junit.xml", "summary.md",
                        ])
                }
                // The real runs' JSON reports follow the schema too.
                let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent()
                    .appendingPathComponent("schemas/report-v1.schema.json").path
                if Python.hasModules("jsonschema") {
                    for folder in folders {
                        let check = try Python.run(
                            [
                                "-c",
                                """
                                import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), \
                                json.load(open(sys.argv[1])))
                                """,
                                schema, "\(reports)/\(folder)/report.json",
                            ],
                            input: Data())
                        #expect(check.status == 0, "\(folder): \(check.stderr)")
                    }
                }
                let walker = FileManager.default.enumerator(atPath: reports)
                while let relative = walker?.nextObject() as? String {
                    let path = reports + "/" + relative
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                        files[path] = FileManager.default.contents(atPath: path)
                    }
                }
                let keyStore = fleet.stateDirectory + "/keys/"
                var keyFiles = 0
                for (path, bytes) in files {
                    let text = String(decoding: bytes, as: UTF8.self)
                    for (what, sentinel) in sentinels { #expect(!text.contains(sentinel), "\(what) is in \(path)") }
                    for key in [oldKey, newKey] {
                        #expect(!key.clearLines.contains { text.contains($0) }, "a private key in clear is in \(path)")
                        if path.hasPrefix(keyStore) { continue }
                        #expect(
                            !key.encryptedLines.contains { text.contains($0) },
                            "an encrypted private key is in \(path), outside the key store")
                    }
                    if path.hasPrefix(keyStore) {
                        keyFiles += 1
                        #expect(
                            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
                                == 0o600, "\(path)")
                    }
                }
                #expect(keyFiles == 2, "the old and the new key, encrypted")
                #expect(
                    (try FileManager.default.attributesOfItem(atPath: fleet.ledgerPath)[.posixPermissions] as? Int)
                        == 0o600)
            }
        }

        /// Certificates are always verified: without the lab's CA (AWS_CA_BUNDLE), and whatever the variables other
        /// tools read to skip verification say, nothing is sent to a server whose certificate is not trusted.
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func tlsVerificationCannotBeTurnedOffByTheEnvironment() async throws {
            try await LabFleet.with(accounts: 1, clusters: 2) { fleet in
                var environment = fleet.environment
                environment["AWS_CA_BUNDLE"] = nil
                for (name, value) in [
                    "GIT_SSL_NO_VERIFY": "true", "NODE_TLS_REJECT_UNAUTHORIZED": "0", "PYTHONHTTPSVERIFY": "0",
                    "CURL_INSECURE": "1",
                ] {
                    environment[name] = value
                }
                let before = fleet.fixture.lab.counters().requests.values.reduce(0, +)
                let result = try await runCommand(
                    [
                        ResumeTests.binary.path, "bootstrap", "-f", fleet.inventoryPath, "--ledger", fleet.ledgerPath,
                        "--state-dir", fleet.stateDirectory, "--no-reports",
                    ],
                    environment: environment)
                #expect(result.status == 1, "\(result.stderr)")
                #expect(result.stderr.contains("certificate"), "says why: \(result.stderr.suffix(1000))")
                #expect(
                    fleet.fixture.lab.counters().requests.values.reduce(0, +) == before, "no request reached the lab")
            }
        }

        struct KeyText {
            /// Lines of the PEM body in clear and as Secret flux-system holds it (encrypted): 64 base64 characters
            /// each.
            let clearLines: [String]
            let encryptedLines: [String]
            var clear: String { clearLines.joined() }
        }

        /// The cluster's key as Secret flux-system holds it, and in clear.
        static func clusterKey(_ context: FleetContext, _ cluster: Cluster) async throws -> KeyText {
            let kube = try await RotationTests.kube(context, cluster)
            let secret = try #require(
                try await kube.get(apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system"))
            let encrypted = String(
                decoding: Data(base64Encoded: try #require(secret[path: "data.identity"]?.string)) ?? Data(),
                as: UTF8.self)
            let key = try RSAPrivateKey(pem: Secret(encrypted), passphrase: Secret(LabFleet.passphrase))
            let clear = try key.pem().reveal()
            func lines(_ pem: String) -> [String] {
                pem.split(separator: "\n").map(String.init).filter { $0.count == 64 && !$0.contains(":") }
            }
            return KeyText(clearLines: lines(clear), encryptedLines: lines(encrypted))
        }
    }
}
