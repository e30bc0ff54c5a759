// Reports from a ledger: every format renders, the JSON follows its schema (checked by python's jsonschema), strings
// from the inventory or a server cannot become markup in HTML, XML or Markdown, merged ledgers make one report,
// and a real browser (headless Chromium, when installed) draws the page with its clusters.
import Foundation
import Ledger
import Reports
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("Reports")
struct ReportTests {
    static let hostile = "<script>alert(1)</script>"
    static let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("schemas/report-v1.schema.json").path

    /// Each test's ledgers, reports and browser profile.
    let scratch: TemporaryFolder

    init() throws { scratch = try TemporaryFolder("fleetstrap-report") }

    /// A ledger with one finished run: `count` clusters over two waves, one failed with an error holding HTML, one
    /// named like a script, a rotation and findings; in a folder of its own inside the test's.
    func seedLedger(count: Int = 6, command: String = "bootstrap", prefix: String = "prod") async throws -> (
        Ledger, String, URL
    ) {
        let folder = scratch.file(prefix + "-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let ledger = try Ledger(path: folder.appendingPathComponent("fleetstrap.db").path)
        let id = "run-20261122-101500-\(prefix.prefix(4))"
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        var names = (1..<count).map { String(format: "\(prefix)-%04d", $0) }
        names.append(Self.hostile)
        let records = names.enumerated().map { index, name in
            ClusterRecord(
                runId: id, cluster: name, account: "prod", repository: "fleet-prod", wave: index < 2 ? 0 : 1,
                status: .pending)
        }
        try await ledger.begin(
            RunRecord(
                id: id, command: command, inventory: "fleet.yaml", inventoryDigest: "d", options: "{}",
                startedAt: start, outcome: .running), clusters: records)
        for (index, var record) in records.enumerated() {
            let began = start.addingTimeInterval(Double(index))
            for (step, ms) in [("credentials", 12), ("describe", 40), ("commit", 300)] {
                try await ledger.journal(run: id, cluster: record.cluster, step: step, state: .started, at: began)
                try await ledger.journal(
                    run: id, cluster: record.cluster, step: step, state: .finished, milliseconds: ms, at: began)
            }
            record.startedAt = began
            record.endedAt = began.addingTimeInterval(5 + Double(index))
            if index == 1 || record.cluster == Self.hostile {
                try await ledger.journal(
                    run: id, cluster: record.cluster, step: "wait", state: .failed,
                    detail: "<b>Ready=False</b> & \"quoted\"", milliseconds: 900, at: began)
                record.status = .failed
                record.errorClass = "kube.failed"
                record.errorMessage = "cluster \(record.cluster), step wait: <img src=x onerror=alert(2)> & ]]> \u{1}"
            } else {
                record.status = .succeeded
                record.revision = "main@sha1:" + String(repeating: "ab", count: 20)
                record.keyId = "APKAEXAMPLE000000001"
            }
            try await ledger.finish(cluster: record)
        }
        try await ledger.event(run: id, "uploaded SSH key APKAEXAMPLE000000001 for flux-prod", at: start)
        try await ledger.record(
            rotation: RotationRecord(
                runId: id, identity: "flux-prod", kind: .ssh, account: "111111111111", iamUser: "flux-prod",
                oldKeyIds: ["APKAOLD0000000000001"],
                newKeyId: "APKAEXAMPLE000000001", newFingerprint: "aa:bb", state: .retired, startedAt: start))
        try await ledger.record(auditKeys: [
            AuditKeyRecord(
                runId: id, identity: "flux-prod", iamUser: "flux-prod", keyId: "APKAOLD0000000000001",
                status: "Inactive", uploadedAt: start.addingTimeInterval(-100 * 86_400), fingerprint: "aa:bb"),
            AuditKeyRecord(
                runId: id, identity: "flux-prod", iamUser: "flux-prod", keyId: "APKAEXAMPLE000000001", status: "Active",
                uploadedAt: start.addingTimeInterval(-86_400), fingerprint: "cc:dd"),
        ])
        try await ledger.record(findings: [
            FindingRecord(
                runId: id, severity: .critical, code: "key.unknown", subject: Self.hostile, cluster: Self.hostile,
                identity: nil, message: "a key <i>nobody</i> knows"),
            FindingRecord(
                runId: id, severity: .warning, code: "key.limit", subject: "flux-prod", cluster: nil,
                identity: "flux-prod", message: "5 keys"),
        ])
        try await ledger.finish(run: id, outcome: .failed, at: start.addingTimeInterval(60))
        return (ledger, id, folder)
    }

    @Test func everyFormatRendersAndTheJSONFollowsTheSchema() async throws {
        let (ledger, id, folder) = try await seedLedger()
        let report = try await ReportBuilder.build(
            [(ledger, id)], placements: ["prod-0001": .init(region: "eu-west-1", labels: ["env": "prod"])])
        #expect(
            report.summary.clusters == 6 && report.summary.succeeded == 4 && report.summary.failed == 2
                && report.summary.waves == 2)
        #expect(report.summary.findings == ["critical": 1, "warning": 1])
        #expect(report.keys.map(\.ageDays) == [100, 1] && report.keys.first?.status == "Inactive")
        let first = try #require(report.clusters.first { $0.name == "prod-0001" })
        #expect(first.region == "eu-west-1" && first.labels == ["env": "prod"] && first.seconds == 5)
        #expect(
            first.steps.map(\.name) == ["credentials", "describe", "commit"]
                && first.steps.allSatisfy { $0.attempts == 1 && $0.state == "finished" })
        let failed = try #require(report.clusters.first { $0.name == "prod-0002" })
        #expect(
            failed.steps.last?.name == "wait" && failed.steps.last?.state == "failed"
                && failed.steps.last?.detail?.contains("Ready=False") == true)

        let paths = try ReportWriter.write(
            report, formats: ReportFormat.allCases, to: folder.appendingPathComponent("reports").path)
        #expect(
            paths.map { ($0 as NSString).lastPathComponent } == [
                "report.html", "report.json", "junit.xml", "summary.md",
            ])

        // JSON: valid against the schema.
        try #require(Python.hasModules("jsonschema"), "python3 with jsonschema (make test installs it)")
        let check = try Python.run(
            [
                "-c",
                """
                import json,sys,jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[1])), \
                format_checker=jsonschema.FormatChecker()).validate(json.load(open(sys.argv[2]))); print('ok')
                """,
                Self.schema, paths[1],
            ],
            input: Data())
        #expect(check.status == 0 && String(decoding: check.stdout, as: UTF8.self).contains("ok"), "\(check.stderr)")
        // And a report missing a required field is refused by the same check (the schema is not vacuous).
        let broken = folder.appendingPathComponent("broken.json").path
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: paths[1]))) as? [String: Any])
        object["summary"] = nil
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: broken))
        let refused = try Python.run(
            [
                "-c",
                """
                import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), \
                json.load(open(sys.argv[1])))
                """,
                Self.schema, broken,
            ], input: Data())
        #expect(refused.status != 0 && refused.stderr.contains("'summary' is a required property"))

        // JUnit: well-formed XML, one test case per cluster, failures with their error.
        let junit = try String(contentsOfFile: paths[2], encoding: .utf8)
        let parsed = XMLParser(data: Data(junit.utf8))
        #expect(parsed.parse(), "\(parsed.parserError.map { "\($0)" } ?? "")")
        #expect(junit.components(separatedBy: "<testcase ").count - 1 == 6)
        #expect(junit.components(separatedBy: "<failure ").count - 1 == 2)
        #expect(junit.contains("tests=\"6\" failures=\"2\""))
        // Markdown: the counts and the failures.
        let markdown = try String(contentsOfFile: paths[3], encoding: .utf8)
        #expect(markdown.contains("| 6 | 4 | 2 | 0 | 0 | 2 |") && markdown.contains("**Failed** (2)"), "\(markdown)")
    }

    @Test func stringsFromTheInventoryAndServersCannotBecomeMarkup() async throws {
        let (ledger, id, _) = try await seedLedger()
        let report = try await ReportBuilder.build([(ledger, id)])
        let html = try report.html()
        #expect(!html.contains("<script>alert"), "a cluster name became a script element")
        #expect(!html.contains("<img src=x"), "an error message became an element")
        #expect(!html.contains("<b>Ready"), "a step detail became markup")
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the name is shown, escaped (findings table)")
        #expect(html.contains("Key ages") && html.contains("100 days") && html.contains("1 critical, 1 warning"))
        // The embedded data cannot end its script element, and still holds the names as they are.
        let start = try #require(html.range(of: "<script type=\"application/json\" id=\"data\">"))
        let end = try #require(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        let data = String(html[start.upperBound..<end.lowerBound])
        #expect(!data.contains("<") && !data.contains(">"))
        let table = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
        let rows = try #require(table["rows"] as? [[String: Any]])
        #expect(rows.contains { $0["n"] as? String == Self.hostile })
        #expect(table["names"] as? [String] == ["credentials", "describe", "commit", "wait"])
        // Exactly two script elements: the data and the page's own.
        #expect(html.components(separatedBy: "<script").count - 1 == 2)
        let junit = report.junit()
        #expect(!junit.contains("<script>") && !junit.contains("<img") && !junit.contains("\u{1}"))
        #expect(XMLParser(data: Data(junit.utf8)).parse())
        let markdown = report.markdown()
        #expect(!markdown.contains("<script>") && !markdown.contains("<img") && markdown.contains("&lt;img"))
    }

    @Test func theLedgersOfAShardedRunMergeIntoOneReport() async throws {
        let (a, idA, _) = try await seedLedger(count: 4, prefix: "east")
        let (b, idB, _) = try await seedLedger(count: 3, prefix: "west")
        let report = try await ReportBuilder.build([(a, idA), (b, idB)])
        #expect(report.runs.map(\.id) == [idA, idB])
        #expect(report.summary.clusters == 7)
        #expect(
            report.clusters.filter { $0.name.hasPrefix("east-") }.count == 3
                && report.clusters.filter { $0.name.hasPrefix("west-") }.count == 2)
        #expect(report.junit().contains("tests=\"7\""))
        #expect(report.markdown().contains("2 runs merged"))
    }

    @Test func tenThousandClustersMakeASmallPage() throws {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let steps = ["credentials", "describe", "preflight", "key", "commit", "components", "secret", "sync", "wait"]
            .map {
                RunReport.Step(
                    name: $0, state: "finished", startedAt: start, milliseconds: 120, attempts: 1, detail: nil)
            }
        let clusters = (0..<10_000).map { i in
            RunReport.Cluster(
                name: String(format: "prod-%05d", i), account: "prod", region: "eu-west-1",
                repository: "fleet-\(i % 10)", labels: ["env": "prod"], wave: i / 2500,
                status: "succeeded", step: "wait",
                revision: "main@sha1:" + String(repeating: String(i % 10), count: 40), keyId: "APKAEXAMPLE000000001",
                errorClass: nil, errorMessage: nil, startedAt: start, endedAt: start.addingTimeInterval(30),
                seconds: 30, steps: steps)
        }
        var summary = RunReport.Summary()
        summary.clusters = 10_000
        summary.succeeded = 10_000
        let report = RunReport(
            generatedAt: start,
            runs: [
                .init(
                    id: "run-x", command: "bootstrap", inventory: "fleet.yaml", outcome: "succeeded", startedAt: start,
                    endedAt: start, seconds: 600)
            ],
            summary: summary, clusters: clusters, events: [], rotations: [], keys: [], findings: [])
        let html = try report.html()
        // Every cluster with every step is in the page, repeated strings once: under 300 bytes a cluster (2.7 MB).
        #expect(html.utf8.count < 3_000_000, "\(html.utf8.count) bytes")
        #expect(html.contains("prod-09999"))
    }

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    @Test
    func aBrowserDrawsThePageWithItsClusters() async throws {
        let (ledger, id, folder) = try await seedLedger(count: 40)
        let report = try await ReportBuilder.build([(ledger, id)])
        let paths = try ReportWriter.write(report, formats: [.html], to: folder.path)
        let browser = try #require(Self.chromium, "Chromium is not installed: scripts/install-deps.sh installs it")
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(folder.path)/chromium",
        ]
        // The DOM after the page's script ran: the table drawn from the embedded data, the hostile name as text.
        let dom = try await runCommand(
            [browser] + flags + ["--virtual-time-budget=5000", "--dump-dom", "file://\(paths[0])"])
        let text = String(decoding: dom.stdout, as: UTF8.self)
        #expect(dom.status == 0, "\(dom.stderr)")
        #expect(text.contains("40 of 40 clusters"), "the table was drawn: \(text.suffix(400))")
        #expect(text.contains("prod-0039") && text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!text.contains("<script>alert(1)"))
        // And a screenshot, as docs/report.png was made.
        let png = folder.appendingPathComponent("report.png").path
        let shot = try await runCommand(
            [browser] + flags + [
                "--window-size=1280,1600", "--virtual-time-budget=5000", "--screenshot=\(png)", "file://\(paths[0])",
            ])
        #expect(shot.status == 0, "\(shot.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.count > 10_000 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        // Clicking a row opens its steps (the page's script, run by the browser, builds the detail from the data).
        let page = try String(contentsOfFile: paths[0], encoding: .utf8)
            .replacingOccurrences(
                of: "apply();\n})();", with: "apply();document.querySelector(\"tr.row\").click();\n})();")
        try page.write(toFile: paths[0], atomically: true, encoding: .utf8)
        let opened = try await runCommand(
            [browser] + flags + ["--virtual-time-budget=5000", "--dump-dom", "file://\(paths[0])"])
        let openedText = String(decoding: opened.stdout, as: UTF8.self)
        #expect(
            openedText.contains("class=\"detail\"") && openedText.contains("credentials  finished  12 ms"),
            "\(openedText.suffix(600))")
    }
}
