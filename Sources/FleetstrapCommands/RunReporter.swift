// What a person (or a machine) sees of a run: a line per finished cluster and per wave on a terminal or in logs,
// a summary at the end, or one JSON document with --output json. Ctrl-C and SIGTERM cancel the run's task, which
// stops starting clusters and records the rest.
import ArgumentParser
import Fleet
import Foundation
import Ledger
import Synchronization

final class RunReporter: Sendable {
    let output: OutputFormat
    let total: Int
    let logFormat: LogFormat
    let quiet: Bool
    let verbose: Bool
    /// On a terminal: one status line redrawn in place, finished clusters above it only when they fail.
    let live: Bool
    private struct State {
        var succeeded = 0, failed = 0
        var started = ContinuousClock.now
        var running: [String: ContinuousClock.Instant] = [:]
        var wave = 0
    }
    private let state = Mutex(State())

    init(output: OutputFormat, total: Int, logFormat: LogFormat = .text, quiet: Bool = false, verbose: Bool = false) {
        self.verbose = verbose
        self.output = output
        self.total = total
        self.logFormat = logFormat
        self.quiet = quiet
        self.live =
            output == .text && logFormat == .text && !quiet && isatty(STDERR_FILENO) == 1
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    var event: @Sendable (ProgressEvent) -> Void {
        { [self] event in
            if logFormat == .json {
                emit(Self.json(event))
                return
            }
            guard output == .text else { return }
            switch event {
            case .waveStarted(let index, let clusters):
                state.withLock { $0.wave = index + 1 }
                if !quiet {
                    emit("\(live ? "\r\u{1B}[K" : "")wave \(index + 1): \(clusters) cluster\(clusters == 1 ? "" : "s")")
                }
            case .step(let cluster, let step, let ms):
                if verbose { emit("\(live ? "\r\u{1B}[K" : "")  \(cluster): \(step) \(ms) ms") }
            case .clusterStarted(let name):
                state.withLock { $0.running[name] = ContinuousClock.now }
                if live { emit("\r\u{1B}[K" + statusLine(), newline: false) }
            case .clusterFinished(let record, let actions):
                state.withLock { s in
                    if record.status == .succeeded {
                        s.succeeded += 1
                    } else if record.status != .interrupted {
                        s.failed += 1
                    }
                    s.running[record.cluster] = nil
                }
                if quiet || live && record.status == .succeeded {
                    if live { emit("\r\u{1B}[K" + statusLine(), newline: false) }
                    return
                }
                let what = record.status == .succeeded ? "ok  " : record.status == .interrupted ? "INT " : "FAIL"
                var line = "\(live ? "\r\u{1B}[K" : "")\(what) \(record.cluster) [\(statusCounts())]"
                if let revision = record.revision, record.status == .succeeded { line += " \(revision)" }
                if actions.isEmpty, record.status == .succeeded { line += " (nothing to change)" }
                if let message = record.errorMessage, record.status != .succeeded { line += "\n     \(message)" }
                emit(line)
                if live { emit(statusLine(), newline: false) }
            case .stopped(let reason):
                emit("\(live ? "\r\u{1B}[K" : "")stopped: \(reason)")
            }
        }
    }

    private let writing = Mutex(())

    /// One write per line, under a lock: lines from concurrent clusters never interleave.
    private func emit(_ text: String, newline: Bool = true) {
        writing.withLock { _ in FileHandle.standardError.write(Data((newline ? text + "\n" : text).utf8)) }
    }

    private func statusCounts() -> String {
        state.withLock { s in
            let done = s.succeeded + s.failed
            let elapsed = (ContinuousClock.now - s.started).seconds
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let eta = rate > 0 ? " ETA \(DurationTextShort.format(Double(total - done) / rate))" : ""
            return "\(done)/\(total), \(s.failed) failed, \(String(format: "%.1f", rate))/s\(eta)"
        }
    }

    /// `wave 3: 12/30, 1 failed, 2.1/s ETA 9s; slowest: prod-0007 41s, …`
    private func statusLine() -> String {
        let (wave, slowest) = state.withLock { s in
            (
                s.wave,
                s.running.sorted { $0.value < $1.value }.prefix(3).map {
                    "\($0.key) \(DurationTextShort.format((ContinuousClock.now - $0.value).seconds))"
                }
            )
        }
        return "wave \(wave): \(statusCounts())"
            + (slowest.isEmpty ? "" : "; slowest: " + slowest.joined(separator: ", "))
    }

    static func json(_ event: ProgressEvent) -> String {
        var object: [String: Any] = ["time": ISO8601DateFormatter().string(from: Date())]
        switch event {
        case .waveStarted(let index, let clusters):
            object.merge(["event": "wave", "wave": index + 1, "clusters": clusters]) { $1 }
        case .clusterStarted(let name): object.merge(["event": "cluster-started", "cluster": name]) { $1 }
        case .step(let cluster, let step, let ms):
            object.merge(["event": "step", "cluster": cluster, "step": step, "milliseconds": ms]) { $1 }
        case .clusterFinished(let record, _):
            object.merge(["event": "cluster-finished", "cluster": record.cluster, "status": record.status.rawValue]) {
                $1
            }
            if let revision = record.revision { object["revision"] = revision }
            if let error = record.errorMessage {
                object["error"] = error
                object["errorClass"] = record.errorClass ?? ""
            }
        case .stopped(let reason): object.merge(["event": "stopped", "reason": reason]) { $1 }
        }
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    func finish(_ summary: RunSummary, plan: Bool) {
        if live { emit("\r\u{1B}[K", newline: false) }
        if output == .json {
            var clusters: [[String: Any]] = []
            for name in summary.succeeded {
                var entry: [String: Any] = ["cluster": name, "status": "succeeded"]
                if let actions = summary.plans[name], let data = try? JSONEncoder().encode(actions),
                    let object = try? JSONSerialization.jsonObject(with: data)
                {
                    entry["actions"] = object
                }
                clusters.append(entry)
            }
            clusters += summary.failed.map { ["cluster": $0.cluster, "status": "failed", "error": $0.error] }
            clusters += summary.notStarted.map { ["cluster": $0, "status": "notStarted"] }
            clusters += summary.interrupted.map { ["cluster": $0, "status": "interrupted"] }
            let document: [String: Any] = [
                "run": summary.runID, "outcome": summary.outcome.rawValue, "succeeded": summary.succeeded.count,
                "failed": summary.failed.count, "notStarted": summary.notStarted.count,
                "interrupted": summary.interrupted.count, "clusters": clusters,
            ]
            if let data = try? JSONSerialization.data(
                withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
            return
        }
        if plan {
            for name in summary.succeeded.sorted() {
                guard let actions = summary.plans[name] else { continue }
                print("\(name): \(Self.describe(actions))")
            }
            let changing = summary.plans.values.filter { !$0.isEmpty }.count
            print(
                "plan: \(changing) of \(summary.succeeded.count) clusters would change; \(summary.failed.count) could "
                    + "not be read"
            )
        }
        for failure in summary.failed { print("failed: \(failure.cluster): \(failure.error)") }
        for name in summary.interrupted { print("interrupted: \(name): --resume-last takes it up again") }
        var counts =
            "\(summary.succeeded.count) succeeded, \(summary.failed.count) failed, \(summary.notStarted.count) not "
            + "started"
        if !summary.interrupted.isEmpty { counts += ", \(summary.interrupted.count) interrupted" }
        print("run \(summary.runID): \(summary.outcome.rawValue): \(counts)")
    }

    static func describe(_ actions: [ClusterAction]) -> String {
        actions.isEmpty ? "nothing to do" : actions.map(\.description).joined(separator: "; ")
    }

    static func exitCode(_ summary: RunSummary) -> Int32 {
        // The journal could not be written: the run cannot go on here, as if it could not start.
        if summary.ledgerFailure != nil, summary.outcome != .interrupted { return 3 }
        return switch summary.outcome {
        case .succeeded: 0
        case .interrupted: 130
        default: 1
        }
    }

    /// Runs `body` in a task that SIGINT and SIGTERM cancel.
    static func interruptible<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler {
                var err = StandardError()
                print(
                    "interrupted: no more clusters start; those in flight stop at their next safe point and are "
                        + "recorded",
                    to: &err)
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        return try await task.value
    }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

/// `9s`, `2m5s`: short durations for progress lines.
enum DurationTextShort {
    static func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
