// `fleetstrap bootstrap` and `fleetstrap plan`: the same pipeline, one writing, one finding out what it would do.
import AWS
import ArgumentParser
import Fleet
import FleetCrypto
import FleetSupport
import Foundation
import Inventory
import Kube
import Ledger

struct FleetOptions: ParsableArguments {
    @Option(name: [.short, .customLong("file")], help: "The inventory.")
    var file = "fleet.yaml"

    @Option(help: "The ledger (SQLite). With --shard, the default is fleetstrap-shard-I-of-N.db.")
    var ledger = "fleetstrap.db"

    @Option(
        help: ArgumentHelp(
            "Take one shard of the fleet: I/N (0-based), or N with the index from JOB_COMPLETION_INDEX (a Kubernetes "
                + "Indexed Job). Whole SSH identities and repositories go to one shard.")
    )
    var shard: String?

    @Option(help: "Where fleetstrap keeps Git mirrors, encrypted SSH keys and downloaded manifests.")
    var stateDir = ".fleetstrap"

    @Option(
        name: [.customShort("l"), .customLong("selector")],
        help: "Only clusters whose labels match (kubectl's selector syntax: env=prod,tier!=edge).")
    var selector: String?

    @Option(name: .customLong("cluster"), help: "Only this cluster (repeatable).")
    var clusters: [String] = []

    @Option(help: "Clusters at once (default: the inventory's rollout.parallelism).")
    var parallel: Int?

    @Option(help: "Cumulative wave sizes, e.g. 1,10%,100% (default: the inventory's).")
    var waves: String?

    @Option(
        help: "Failures tolerated before no further wave starts, a count or a percentage (default: the inventory's).")
    var maxFailures: String?

    @Option(
        help: "How long to wait for another run holding this ledger and state folder to finish (0: refuse at once).")
    var waitLock = "0"

    @Option(
        name: [.customLong("wait-timeout"), .customLong("timeout")],
        help: "How long to wait for Flux to become Ready on a cluster (a Go duration; --timeout as flux spells it).")
    var waitTimeout = "5m"

    @Option(name: [.short, .customLong("output")], help: "Output: text or json (one document at the end).")
    var output: OutputFormat = .text

    @Option(help: "Progress on standard error: text, or json (one event a line).")
    var logFormat: LogFormat = .text

    @Option(help: "Where each run writes its reports (HTML, JSON, JUnit, Markdown), in a folder per run.")
    var reports = "reports"

    @Flag(help: "Write no reports (fleetstrap report renders any run later).")
    var noReports = false

    @Flag(name: .shortAndLong, help: "Only the failures and the summary.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Also each step of each cluster, with its time.")
    var verbose = false

    func load() throws -> (Inventory, [Cluster], String) {
        let inventory: Inventory
        do {
            inventory = try InventoryLoader.load(path: file)
        } catch {
            throw CommandFailure.invalidInventory("\(error)")
        }
        var clusters = inventory.clusters
        if let selector {
            do {
                let parsed = try LabelSelector(selector)
                clusters = clusters.filter { parsed.matches($0.labels) }
            } catch {
                throw CommandFailure.invalidInput("\(error)")
            }
        }
        if !self.clusters.isEmpty {
            for name in self.clusters where inventory.cluster(named: name) == nil {
                let suggestion =
                    Suggestion.closest(to: name, in: inventory.clusters.map(\.name)).map { "; did you mean '\($0)'?" }
                    ?? ""
                throw CommandFailure.invalidInput("--cluster \(name): no such cluster in \(file)\(suggestion)")
            }
            clusters = clusters.filter { self.clusters.contains($0.name) }
        }
        if let shard = try parsedShard() { clusters = shard.clusters(clusters, of: inventory) }
        let digest = (FileManager.default.contents(atPath: file).map { SHA256.hash(Array($0)).hexString }) ?? ""
        return (inventory, clusters, digest)
    }

    /// Refuses a selection of no clusters before anything is opened or written, saying why it is empty.
    func requireClusters(_ inventory: Inventory, _ clusters: [Cluster]) throws {
        guard clusters.isEmpty else { return }
        if inventory.clusters.isEmpty {
            throw CommandFailure.invalidInput("\(file): the inventory has no clusters; add some under 'clusters:'")
        }
        var filters: [String] = []
        if let selector { filters.append("--selector '\(selector)'") }
        if !self.clusters.isEmpty { filters.append("--cluster \(self.clusters.joined(separator: ","))") }
        if let shard { filters.append("--shard \(shard)") }
        throw CommandFailure.invalidInput(
            "no cluster selected: \(filters.joined(separator: " and ")) leaves none of the "
                + "\(inventory.clusters.count) clusters in \(file)"
        )
    }

    func parsedShard() throws -> Shard? {
        guard let shard else { return nil }
        do {
            return try Shard(shard, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CommandFailure.invalidInput("\(error)")
        }
    }

    /// The ledger's path: `--ledger`, or one per shard when sharded and left at its default.
    var ledgerPath: String {
        guard ledger == "fleetstrap.db", let shard = try? parsedShard() else { return ledger }
        return "fleetstrap-shard-\(shard.index)-of-\(shard.count).db"
    }

    func settings(_ inventory: Inventory, dryRun: Bool) throws -> RunSettings {
        if quiet && verbose {
            throw CommandFailure.invalidInput("--quiet and --verbose contradict each other; give one")
        }
        var settings = RunSettings(rollout: inventory.rollout)
        if let parallel {
            guard parallel > 0 else { throw CommandFailure.invalidInput("--parallel must be at least 1") }
            settings.parallel = parallel
        }
        if let waves {
            let texts = waves.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let sizes = texts.compactMap(Rollout.Size.init)
            guard !texts.isEmpty, sizes.count == texts.count else {
                throw CommandFailure.invalidInput("--waves '\(waves)': give counts or percentages, e.g. 1,10%,100%")
            }
            guard Rollout.Size.waveProblems(sizes).isEmpty else {
                throw CommandFailure.invalidInput(
                    "--waves '\(waves)': wave sizes are cumulative and must grow, e.g. 1,10%,100%")
            }
            settings.waves = sizes
        }
        if let maxFailures {
            guard let size = Rollout.Size(maxFailures), size.isValidBudget else {
                throw CommandFailure.invalidInput(
                    "--max-failures '\(maxFailures)': a count or a percentage, e.g. 5 or 5%")
            }
            settings.maxFailures = size
        }
        settings.dryRun = dryRun
        return settings
    }

    /// The run's reports in `--reports`/<run-id>/, unless `--no-reports`.
    func writeReports(_ runID: String, context: FleetContext) async {
        await ReportCommand.writeAfterRun(
            runID, ledger: context.ledger, inventory: context.inventory, folder: noReports ? nil : reports,
            quiet: quiet || output == .json)
    }

    /// What bootstrap and rotate check before a run, in this order: the inventory, then clusters to work on (a new
    /// run) or a ledger to resume, then the run's settings. Nothing is made before all of it holds.
    func prepareRun(resuming: Bool, dryRun: Bool) throws -> (
        inventory: Inventory, clusters: [Cluster], digest: String, settings: RunSettings
    ) {
        let (inventory, clusters, digest) = try load()
        if resuming {
            try requireLedgerToResume()
        } else {
            try requireClusters(inventory, clusters)
        }
        return (inventory, clusters, digest, try settings(inventory, dryRun: dryRun))
    }

    /// Resuming needs the ledger that holds the run: refused before anything (a new, empty ledger among them) is made.
    func requireLedgerToResume() throws {
        guard !FileManager.default.fileExists(atPath: ledgerPath) else { return }
        throw CommandFailure.invalidInput(
            "no ledger at \(ledgerPath): there is no run to resume; pass the --ledger of the run")
    }

    /// The run `--resume RUN` names, or with `--resume-last` the newest unfinished run of `command`. A run begun from
    /// an inventory that has changed since is resumed with the inventory as it is now, and says so.
    func runToResume(_ explicit: String?, command: String, in ledger: Ledger, digest: String) async throws -> String {
        let id: String
        if let explicit {
            id = explicit
        } else {
            guard let last = try await ledger.lastUnfinished(command: command) else {
                throw CommandFailure.invalidInput("no unfinished \(command) run in \(ledgerPath) to resume")
            }
            id = last.id
        }
        guard let run = try await ledger.run(id), run.command == command else {
            throw CommandFailure.invalidInput("no \(command) run \(id) in \(ledgerPath)")
        }
        if !run.inventoryDigest.isEmpty, run.inventoryDigest != digest {
            let text =
                "the inventory \(file) has changed since run \(id) began (SHA-256 \(run.inventoryDigest.prefix(12))… "
                + "then, "
                + "\(digest.prefix(12))… now): it resumes with the inventory as it is now"
            FileHandle.standardError.write(Data("notice: \(text)\n".utf8))
            try? await ledger.event(run: id, level: .warning, text)
        }
        return id
    }

    /// What every fleet command works with. The caller's AWS credentials are resolved first, once: without them
    /// every cluster would fail alike, so the chain's message is said once and the command exits 3, before the
    /// state folder or the ledger is made.
    func context(_ inventory: Inventory) async throws -> FleetContext {
        // Bad input is said before anything is asked of AWS.
        guard let timeout = DurationText.parse(waitTimeout) else {
            throw CommandFailure.invalidInput("--timeout '\(waitTimeout)' is not a duration (90s, 5m, 1h)")
        }
        let aws: AWSEnvironment
        let baseCredentials: any CredentialProvider
        do {
            // The inventory's rate limits per (service, account, region) over the AWS defaults.
            var configuration = try AWSClient.Configuration.environment(ProcessInfo.processInfo.environment)
            configuration.rates.merge(inventory.rollout.rateLimits) { $1 }
            aws = try AWSEnvironment(
                variables: ProcessInfo.processInfo.environment, client: AWSClient(configuration: configuration))
            baseCredentials = try aws.defaultCredentials(region: aws.region ?? "us-east-1")
        } catch {
            throw CommandFailure.couldNotStart("\(error)")
        }
        do {
            _ = try await baseCredentials.credentials()
        } catch is CancellationError {
            throw ExitStatus.interrupted
        } catch {
            throw CommandFailure.couldNotStart("no usable AWS credentials: \(describe(error))")
        }
        // The state folder is made before the ledger (which `--ledger` may put inside it), and a run refused at this
        // point takes back a folder it made, as long as nothing was written into it.
        let stateExisted = FileManager.default.fileExists(atPath: stateDir)
        do {
            try FileManager.default.createDirectory(
                atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let ledger = try Ledger(path: ledgerPath)
            return try await FleetContext(
                inventory: inventory, aws: aws.client, baseCredentials: baseCredentials, ledger: ledger,
                stateDirectory: stateDir, wait: WaitSettings(timeout: timeout, poll: .seconds(2)))
        } catch {
            if !stateExisted { rmdir(stateDir) }
            throw CommandFailure.couldNotStart(describe(error))
        }
    }
}

struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Bootstrap Flux on the inventory's clusters, in waves, journaled in the ledger.",
        discussion:
            "Exit codes: 0 all succeeded, 1 some failed, 2 invalid input, 3 could not start (or the ledger could not "
            + "be written, or another run holds the fleet state), 130 interrupted."
    )

    @OptionGroup var fleet: FleetOptions

    @Option(help: "Continue a run (default: the newest unfinished bootstrap run).")
    var resume: String?

    @Flag(name: .customLong("resume-last"), help: "Continue the newest unfinished bootstrap run.")
    var resumeLast = false

    @Flag(help: "Find out what would be done; write nothing.")
    var dryRun = false

    func run() async throws {
        try await runFleet(fleet, dryRun: dryRun, resume: resume, resumeLast: resumeLast)
    }
}

/// Bootstrap and plan share this: the same pipeline, writing or not.
func runFleet(_ fleet: FleetOptions, dryRun: Bool, resume: String?, resumeLast: Bool) async throws {
    let (inventory, clusters, digest, settings) = try fleet.prepareRun(
        resuming: resume != nil || resumeLast, dryRun: dryRun)
    let context = try await fleet.context(inventory)
    let reporter = RunReporter(
        output: fleet.output, total: clusters.count, logFormat: fleet.logFormat, quiet: fleet.quiet,
        verbose: fleet.verbose)
    let execute = { (lock: RunLock?) async throws -> RunSummary in
        var fleetRun = FleetRun(context: context, settings: settings)
        fleetRun.lock = lock
        return try await RunReporter.interruptible { [fleetRun] in
            if resume != nil || resumeLast {
                let id = try await fleet.runToResume(resume, command: "bootstrap", in: context.ledger, digest: digest)
                return try await fleetRun.resume(runID: id, clusters: inventory.clusters, progress: reporter.event)
            }
            return try await fleetRun.start(
                command: dryRun ? "plan" : "bootstrap", clusters: clusters, inventoryPath: fleet.file,
                inventoryDigest: digest,
                progress: reporter.event)
        }
    }
    // A plan changes nothing and never waits; a bootstrap holds the fleet state for its whole life.
    let summary =
        dryRun ? try await execute(nil) : try await fleet.holdingFleetState(context, command: "bootstrap", execute)
    reporter.finish(summary, plan: dryRun)
    await fleet.writeReports(summary.runID, context: context)
    let code = RunReporter.exitCode(summary)
    if code != 0 { throw ExitCode(code) }
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what bootstrap would do on each cluster (reads live state, writes nothing).")

    @OptionGroup var fleet: FleetOptions

    func run() async throws {
        try await runFleet(fleet, dryRun: true, resume: nil, resumeLast: false)
    }
}
