// What a person (or a machine) sees of a run: a line per finished cluster and per wave on a terminal or in logs,
// a summary at the end, or one JSON document with --output json. Ctrl-C and SIGTERM cancel the run's task, which
// stops starting clusters and records the rest.
import Fleet
import Foundation
import Ledger
import Synchronization

final class RunReporter: Sendable {
    let output: OutputFormat
    let total: Int
    private let done = Mutex((succeeded: 0, failed: 0, started: ContinuousClock.now))

    init(output: OutputFormat, total: Int) {
        self.output = output
        self.total = total
    }

    var event: @Sendable (ProgressEvent) -> Void {
        { [self] event in
            guard output == .text else { return }
            var err = StandardError()
            switch event {
            case .waveStarted(let index, let clusters):
                print("wave \(index + 1): \(clusters) clusters", to: &err)
            case .clusterFinished(let record, let actions):
                let (ok, failed, started) = done.withLock { d in
                    if record.status == .succeeded { d.succeeded += 1 } else { d.failed += 1 }
                    return (d.succeeded, d.failed, d.started)
                }
                let elapsed = (ContinuousClock.now - started).components.seconds
                let rate = elapsed > 0 ? String(format: "%.1f/s", Double(ok + failed) / Double(elapsed)) : "-"
                let what = record.status == .succeeded ? "ok  " : "FAIL"
                var line = "\(what) \(record.cluster) [\(ok + failed)/\(total), \(failed) failed, \(rate)]"
                if let revision = record.revision, record.status == .succeeded { line += " \(revision)" }
                if actions.nothingToDo, record.status == .succeeded { line += " (nothing to change)" }
                if let message = record.errorMessage, record.status != .succeeded { line += "\n     \(message)" }
                print(line, to: &err)
            case .stopped(let reason):
                print("stopped: \(reason)", to: &err)
            }
        }
    }

    func finish(_ summary: RunSummary, plan: Bool) {
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
            let document: [String: Any] = [
                "run": summary.runID, "outcome": summary.outcome.rawValue, "succeeded": summary.succeeded.count,
                "failed": summary.failed.count, "notStarted": summary.notStarted.count, "clusters": clusters,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys]) {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
            return
        }
        if plan {
            for name in summary.succeeded.sorted() {
                guard let actions = summary.plans[name] else { continue }
                print("\(name): \(Self.describe(actions))")
            }
            let changing = summary.plans.values.filter { !$0.nothingToDo }.count
            print("plan: \(changing) of \(summary.succeeded.count) clusters would change; \(summary.failed.count) could not be read")
        }
        for failure in summary.failed { print("failed: \(failure.cluster): \(failure.error)") }
        print("run \(summary.runID): \(summary.outcome.rawValue): \(summary.succeeded.count) succeeded, \(summary.failed.count) failed, \(summary.notStarted.count) not started")
    }

    static func describe(_ actions: ClusterActions) -> String {
        guard !actions.nothingToDo else { return "nothing to do" }
        var parts: [String] = []
        if actions.uploadKey { parts.append("upload an SSH key") }
        if !actions.commitFiles.isEmpty { parts.append("commit \(actions.commitFiles.joined(separator: ", "))") }
        if actions.applyComponents != 0 { parts.append(actions.applyComponents > 0 ? "apply \(actions.applyComponents) component objects" : "apply the components") }
        if actions.writeSecret { parts.append("write secret flux-system") }
        if actions.applySync > 0 { parts.append("apply \(actions.applySync) sync objects") }
        return parts.joined(separator: "; ")
    }

    static func exitCode(_ summary: RunSummary) -> Int32 {
        switch summary.outcome {
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
                print("interrupted: finishing the clusters in flight, starting no more (again to stop at once)", to: &err)
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        return try await task.value
    }
}
