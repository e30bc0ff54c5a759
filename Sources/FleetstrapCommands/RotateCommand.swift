// `fleetstrap rotate`: a new SSH key per identity, switched to on every cluster that uses it, the old one retired
// only when all are verified. Meant for schedules (cron, a Kubernetes CronJob) with --older-than.
import ArgumentParser
import Fleet
import FleetSupport
import Foundation
import Ledger

struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate the SSH keys of the fleet's identities without a moment where a cluster has no working key.",
        discussion: """
            Per identity: a new key is uploaded while the old stays Active; each cluster keeps its current secret as
            flux-system-previous, gets the new key and the new key id in its GitRepository URL (gotk-sync.yaml in Git
            too, one commit per repository and wave) and must fetch with it; only when every cluster of the identity
            does are the old keys made Inactive (deleted with --delete-old, or by a later rotate after --grace). A
            cluster that fails is rolled back to its previous key and the identity stays "partially rotated" until
            `rotate --resume` finishes it.

            Exit codes: 0 rotated or nothing due, 1 some identity partially rotated or refused, 2 invalid input,
            3 could not start (credentials, the ledger, the fleet state held by another run) or the ledger refused a
            write, 130 interrupted (clusters in flight are recorded interrupted; --resume-last takes them up).
            """)

    @OptionGroup var fleet: FleetOptions

    @Option(name: .customLong("identity"), help: "Only this identity (repeatable).")
    var identities: [String] = []

    @Option(help: "Only identities whose Active key is older than this (90d, 12h): for schedules.")
    var olderThan: String?

    @Flag(help: "Delete Inactive keys no cluster is known to use, to make room under IAM's limit of 5.")
    var pruneInactive = false

    @Flag(help: "Delete the old keys once every cluster is switched (default: make them Inactive).")
    var deleteOld = false

    @Option(help: "Keys made Inactive by an earlier rotation are deleted once this long has passed.")
    var grace = "7d"

    @Flag(
        name: .customLong("no-rollback"), help: "Leave clusters that fail with the new key as they are, for inspection."
    )
    var noRollback = false

    @Flag(name: [.customLong("dry-run"), .customLong("plan")], help: "Say what would be rotated; change nothing.")
    var dryRun = false

    @Option(help: "Continue a rotate run (its identities keep the new keys they got).")
    var resume: String?

    @Flag(name: .customLong("resume-last"), help: "Continue the newest unfinished rotate run.")
    var resumeLast = false

    func validate() throws {
        if let olderThan, DurationText.parse(olderThan) == nil {
            throw ValidationError("--older-than '\(olderThan)' is not a duration (90d, 12h)")
        }
        if DurationText.parse(grace) == nil { throw ValidationError("--grace '\(grace)' is not a duration (7d)") }
    }

    func run() async throws {
        let (inventory, clusters, digest, settings) = try fleet.prepareRun(
            resuming: resume != nil || resumeLast, dryRun: dryRun)
        var rotation = RotationSettings()
        rotation.identities = identities
        rotation.olderThanSeconds = olderThan.flatMap(DurationText.parse).map(\.seconds)
        rotation.graceSeconds = DurationText.parse(grace)!.seconds
        rotation.pruneInactive = pruneInactive
        rotation.deleteOld = deleteOld
        rotation.rollback = !noRollback
        for name in identities where inventory.identity(named: name) == nil {
            let suggestion =
                Suggestion.closest(to: name, in: inventory.identities.map(\.name)).map { "; did you mean '\($0)'?" }
                ?? ""
            throw CommandFailure.invalidInput("--identity \(name): no such identity in \(fleet.file)\(suggestion)")
        }
        let context = try await fleet.context(inventory)
        let reporter = RunReporter(
            output: fleet.output, total: clusters.count, logFormat: fleet.logFormat, quiet: fleet.quiet,
            verbose: fleet.verbose)
        let execute = { (lock: RunLock?) async throws -> RotationSummary in
            var run = RotationRun(context: context, settings: settings, rotation: rotation)
            run.lock = lock
            return try await RunReporter.interruptible { [run] in
                if resume != nil || resumeLast {
                    let id = try await fleet.runToResume(resume, command: "rotate", in: context.ledger, digest: digest)
                    return try await run.resume(runID: id, progress: reporter.event)
                }
                return try await run.start(
                    clusters: clusters, inventoryPath: fleet.file, inventoryDigest: digest, dryRun: dryRun,
                    progress: reporter.event)
            }
        }
        // A dry run changes nothing and never waits; a rotation holds the fleet state for its whole life.
        let summary =
            dryRun ? try await execute(nil) : try await fleet.holdingFleetState(context, command: "rotate", execute)
        report(summary, reporter: reporter)
        await fleet.writeReports(summary.run.runID, context: context)
        let partial = summary.identities.contains { $0.state == .partial || $0.state == .refused }
        let code: Int32 =
            summary.run.outcome == .interrupted
            ? 130
            : summary.run.ledgerFailure != nil
                ? 3
                : partial || !summary.run.failed.isEmpty ? 1 : 0
        if code != 0 { throw ExitCode(code) }
    }

    private func report(_ summary: RotationSummary, reporter: RunReporter) {
        if fleet.output == .json {
            let identities: [[String: Any]] = summary.identities.map { outcome in
                var entry: [String: Any] = [
                    "identity": outcome.identity, "iamUser": outcome.iamUser, "state": outcome.state.rawValue,
                    "oldKeys": outcome.oldKeys,
                    "clusters": outcome.clusters, "message": outcome.message,
                ]
                if let key = outcome.newKey { entry["newKey"] = key }
                return entry
            }
            var clusters: [[String: Any]] = summary.run.succeeded.map { ["cluster": $0, "status": "succeeded"] }
            clusters += summary.run.failed.map { ["cluster": $0.cluster, "status": "failed", "error": $0.error] }
            clusters += summary.run.notStarted.map { ["cluster": $0, "status": "notStarted"] }
            clusters += summary.run.interrupted.map { ["cluster": $0, "status": "interrupted"] }
            var document: [String: Any] = [
                "identities": identities, "clusters": clusters, "outcome": summary.run.outcome.rawValue,
            ]
            if !summary.run.runID.isEmpty { document["run"] = summary.run.runID }
            if let data = try? JSONSerialization.data(
                withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
            return
        }
        for outcome in summary.identities {
            print("identity \(outcome.identity) (\(outcome.iamUser)): \(outcome.state.rawValue): \(outcome.message)")
        }
        guard !summary.run.runID.isEmpty else { return }
        reporter.finish(summary.run, plan: false)
    }
}
