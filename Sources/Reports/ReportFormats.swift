// The machine formats: JSON (the model, versioned, stable names, dates in ISO 8601), JUnit XML (one test case per
// cluster, grouped by run, a failure carrying the error), and Markdown (a short summary for a pull request or chat).
import Foundation
import Ledger

public enum ReportFormat: String, CaseIterable, Sendable {
    case html, json, junit, md

    public var fileName: String {
        switch self {
        case .html: "report.html"
        case .json: "report.json"
        case .junit: "junit.xml"
        case .md: "summary.md"
        }
    }
}

extension RunReport {
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    /// JUnit XML as CI systems read it: a suite per run, a test case per cluster (classname: account.repository).
    public func junit() -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failed = clusters.filter { $0.status == "failed" }.count
        let skipped = clusters.filter { $0.status != "failed" && $0.status != "succeeded" }.count
        let total = runs.compactMap(\.seconds).reduce(0, +)
        out +=
            "<testsuites name=\"fleetstrap\" tests=\"\(clusters.count)\" failures=\"\(failed)\" "
            + "skipped=\"\(skipped)\" time=\"\(Self.seconds(total))\">\n"
        let byRun = Dictionary(grouping: clusters, by: { cluster in runs.count == 1 ? runs[0].id : "" })
        for run in runs {
            let mine = runs.count == 1 ? (byRun[run.id] ?? []) : clusters
            out +=
                "  <testsuite name=\"\(Self.xml("\(run.command) \(run.id)"))\" tests=\"\(mine.count)\" "
                + "failures=\"\(mine.filter { $0.status == "failed" }.count)\""
            out +=
                " skipped=\"\(mine.filter { $0.status != "failed" && $0.status != "succeeded" }.count)\" "
                + "time=\"\(Self.seconds(run.seconds ?? 0))\""
            out += " timestamp=\"\(Self.iso(run.startedAt))\">\n"
            for cluster in mine {
                out +=
                    "    <testcase name=\"\(Self.xml(cluster.name))\" "
                    + "classname=\"\(Self.xml("\(cluster.account).\(cluster.repository)"))\" "
                    + "time=\"\(Self.seconds(cluster.seconds ?? 0))\""
                switch cluster.status {
                case "succeeded":
                    out += ">\n"
                    if let revision = cluster.revision {
                        out += "      <system-out>\(Self.xml(revision))</system-out>\n"
                    }
                    out += "    </testcase>\n"
                case "failed":
                    out +=
                        ">\n      <failure type=\"\(Self.xml(cluster.errorClass ?? "failed"))\" "
                        + "message=\"\(Self.xml(Self.firstLine(cluster.errorMessage ?? "failed")))\">"
                    out +=
                        Self.xml("step \(cluster.step ?? "?"): \(cluster.errorMessage ?? "failed")")
                        + "</failure>\n    </testcase>\n"
                default:
                    out += ">\n      <skipped message=\"\(Self.xml(cluster.status))\"/>\n    </testcase>\n"
                }
            }
            out += "  </testsuite>\n"
            if runs.count > 1 { break }  // merged runs: one suite holds every cluster
        }
        return out + "</testsuites>\n"
    }

    /// A few lines for a pull request or chat: outcome, counts, the failures (ten at most), findings.
    public func markdown() -> String {
        // Run ids, commands and outcomes are fleetstrap's own words; everything else is escaped (never in code spans,
        // where escapes would show).
        let title =
            runs.count == 1
            ? "fleetstrap \(runs[0].command) `\(runs[0].id.filter { $0 != "`" })`: \(runs[0].outcome)"
            : "fleetstrap: \(runs.count) runs merged"
        var out = "### \(title)\n\n"
        out += "| clusters | succeeded | failed | not started | interrupted | waves | time |\n"
        out += "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        let seconds = runs.compactMap(\.seconds).max().map { String(format: "%.0f s", $0) } ?? "–"
        out +=
            "| \(summary.clusters) | \(summary.succeeded) | \(summary.failed) | \(summary.notStarted + summary.pending)"
        out += " | \(summary.interrupted) | \(summary.waves) | \(seconds) |\n"
        let failures = clusters.filter { $0.status == "failed" }
        if !failures.isEmpty {
            out += "\n**Failed** (\(failures.count)):\n\n"
            for cluster in failures.prefix(10) {
                out +=
                    "- **\(Self.md(cluster.name))** at \(Self.md(cluster.step ?? "?")): "
                    + "\(Self.md(Self.firstLine(cluster.errorMessage ?? "failed")))\n"
            }
            if failures.count > 10 { out += "- … and \(failures.count - 10) more (see the HTML or JSON report)\n" }
        }
        for rotation in rotations {
            out +=
                "\n- rotation of \(Self.md(rotation.holder)) (\(Self.md(rotation.iamUser))): \(rotation.state), new "
                + "\(Self.md(rotation.newKey))"
                + (rotation.oldKeys.isEmpty ? "" : ", old \(rotation.oldKeys.map(Self.md).joined(separator: ", "))")
                + "\n"
        }
        if !findings.isEmpty {
            let counts = FindingRecord.Severity.allCases.reversed().compactMap { severity in
                summary.findings[severity.rawValue].map { "\($0) \(severity.rawValue)" }
            }
            out += "\n**Findings**: \(counts.joined(separator: ", "))\n\n"
            for finding in findings.prefix(10) {
                out +=
                    "- **\(finding.severity.rawValue)** `\(Self.md(finding.code))` \(Self.md(finding.subject)): "
                    + "\(Self.md(finding.message))\n"
            }
            if findings.count > 10 { out += "- … and \(findings.count - 10) more\n" }
        }
        return out
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }
    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
    static func firstLine(_ text: String) -> String { String(text.split(separator: "\n", maxSplits: 1).first ?? "") }

    /// Text for XML attributes and content: the five entities, and no control characters XML 1.0 forbids.
    static func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Markdown that cannot open tags, links or code spans: HTML-escaped, with Markdown's own marks escaped.
    static func md(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\\", "`", "*", "_", "[", "]", "|", "#", "!": out += "\\\(character)"
            case "\n", "\r": out += " "
            default: out.append(character)
            }
        }
        return out
    }
}
