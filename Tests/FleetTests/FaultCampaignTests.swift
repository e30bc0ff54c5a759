// The fault campaign: for each kind of fault a fresh lab fleet is bootstrapped with that fault on. Every cluster that
// can succeed does, every failure is the one the fault causes (its step and error class), no repository holds a
// duplicate commit, and the ledger passes integrity_check. The table it prints is docs/reliability.md's figures.
// `make test-faults` runs this suite alone.
import Fleet
import FleetLab
import FleetSupport
import Foundation
import Inventory
import Kube
import LabSupport
import Ledger
import Synchronization
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: fault campaign", .serialized, .tags(.integration, .faults))
    struct FaultCampaignTests {
        /// A failure the fault must cause: the cluster (by its index in the fleet), the step it fails at, its error
        /// class.
        struct ExpectedFailure {
            let index: Int
            let step: String
            let errorClass: String
        }

        struct Campaign: CustomTestStringConvertible, Sendable {
            let fault: String
            /// Refusals the lab must have answered, by service, when the count is known exactly.
            var refusals: [String: Int] = [:]
            let faults: @Sendable (_ clusters: [String]) -> LabFaults
            var expected: [ExpectedFailure] = []
            var waitSeconds = 30
            var testDescription: String { fault }
        }

        static let clusters = 8

        static let campaigns: [Campaign] = [
            Campaign(fault: "throttling bursts") { _ in
                LabFaults(rules: [
                    .init(service: "sts", error: .throttling, count: 2),
                    .init(service: "iam", error: .throttling, count: 4),
                    .init(service: "eks", error: .throttling, count: 6),
                    .init(service: "kubernetes", error: .throttling, count: 12),
                ])
            },
            Campaign(fault: "5xx answers") { _ in
                LabFaults(rules: [
                    .init(service: "iam", error: .internalError, count: 2),
                    .init(service: "eks", error: .unavailable, count: 2),
                    .init(service: "kubernetes", error: .internalError, probability: 0.04),
                    .init(service: "kubernetes", error: .unavailable, probability: 0.04),
                    .init(service: "git", error: .unavailable, count: 1),
                ])
            },
            Campaign(fault: "429 with Retry-After") { _ in
                LabFaults(rules: [
                    .init(service: "eks", error: .tooManyRequests, count: 3, retryAfter: 1),
                    .init(service: "kubernetes", error: .tooManyRequests, count: 10, retryAfter: 1),
                ])
            },
            Campaign(fault: "connection resets") { _ in
                LabFaults(rules: [
                    .init(service: "iam", error: .reset, count: 1), .init(service: "eks", error: .reset, count: 2),
                    .init(service: "kubernetes", error: .reset, probability: 0.04),
                    .init(service: "git", error: .reset, count: 1),
                ])
            },
            Campaign(fault: "hangs (2 s, then closed)") { _ in
                LabFaults(
                    rules: [
                        .init(service: "kubernetes", error: .hang, count: 4),
                        .init(service: "eks", error: .hang, count: 1),
                    ], hangSeconds: 2)
            },
            Campaign(fault: "expired credentials mid-run", refusals: ["iam": 1, "eks": 1, "kubernetes": 6]) {
                clusters in
                // One refusal per session: a session refused again right after its renewal is an error to report. So
                // one 401 for each of six clusters' tokens, not six anywhere: a fleet-wide count could also refuse the
                // renewed token of a cluster whose first token it had just refused (seen once in CI).
                LabFaults(
                    rules: [
                        .init(service: "iam", error: .expiredToken, count: 1),
                        .init(service: "eks", error: .expiredToken, count: 1),
                    ]
                        + clusters.prefix(6).map {
                            .init(service: "kubernetes", cluster: $0, error: .expiredToken, count: 1)
                        })
            },
            Campaign(
                fault: "a cluster's API down", faults: { LabFaults(unreachableClusters: [$0[2]]) },
                expected: [ExpectedFailure(index: 2, step: "preflight", errorClass: "kubernetes.")]),
            Campaign(fault: "a rival pusher") { _ in
                LabFaults(rivalPushes: [
                    .init(repository: "fleet-prod", account: "prod", pushes: 3),
                    .init(repository: "fleet-staging", account: "staging", pushes: 3),
                ])
            },
            Campaign(
                fault: "a stuck source-controller", faults: { LabFaults(stuckClusters: [$0[5]]) },
                expected: [ExpectedFailure(index: 5, step: "wait", errorClass: "kubernetes.timeout")], waitSeconds: 8),
        ]

        struct Row {
            let fault: String
            let clusters: Int
            let succeeded: Int
            let failedAsExpected: Int
            let lost: Int
            let seconds: Double
        }

        static let rows = Mutex<[Row]>([])

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)), arguments: campaigns)
        func everyClusterThatCanSucceedDoes(_ campaign: Campaign) async throws {
            let started = ContinuousClock.now
            try await LabFleet.with(
                accounts: 2, clusters: Self.clusters, transports: ["ssh", "https-token"]
            ) { fleet in
                let names = fleet.inventory.clusters.map(\.name)
                try await fleet.fixture.lab.setFaults(campaign.faults(names))
                let context = try await fleet.context(
                    wait: WaitSettings(timeout: .seconds(campaign.waitSeconds), poll: .seconds(1)))
                // Every cluster is given its chance: no failure budget, no waves to stop.
                let settings = RunSettings(
                    parallel: 4, waves: [.percent(100)], maxFailures: .percent(100), clusterTimeoutSeconds: 240)
                let summary = try await FleetRun(context: context, settings: settings).start(
                    command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "faults",
                    progress: { _ in })

                let records = try await context.ledger.clusters(run: summary.runID)
                #expect(records.count == Self.clusters)
                var failedAsExpected = 0
                var lost: [String] = []
                for record in records {
                    let expected = campaign.expected.first { names[$0.index] == record.cluster }
                    switch (record.status, expected) {
                    case (.succeeded, nil):
                        continue
                    case (.failed, let expected?)
                    where record.step == expected.step && record.errorClass?.hasPrefix(expected.errorClass) == true:
                        failedAsExpected += 1
                        #expect(record.errorMessage?.isEmpty == false, "the failure says why")
                    default:
                        lost.append(
                            "\(record.cluster): \(record.status) at \(record.step ?? "-") \(record.errorClass ?? "") "
                                + "\(record.errorMessage ?? "")"
                        )
                    }
                }
                #expect(lost.isEmpty, "\(campaign.fault): \(lost)")
                // The fault did happen: a campaign that injected nothing would prove nothing.
                let counters = fleet.fixture.lab.counters()
                let injected = counters.throttled.values.reduce(0, +) + counters.failed.values.reduce(0, +)
                if !(campaign.faults(names).rules ?? []).isEmpty {
                    #expect(injected > 0, "\(campaign.fault): nothing injected")
                }
                for (service, count) in campaign.refusals {
                    #expect(counters.failed[service] == count, "\(campaign.fault): \(service) refusals")
                }
                #expect(failedAsExpected == campaign.expected.count, "\(campaign.fault)")
                #expect(try await context.ledger.integrityCheck() == "ok")

                // Each cluster that succeeded had its files added by exactly one commit, rival pushes or not.
                for repository in fleet.inventory.repositories {
                    let bare = fleet.bareRepository(
                        repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                    let added = try await GitCLI.output([
                        "-C", bare, "log", "--diff-filter=A", "--name-only", "--format=", "--branches", "--",
                        "clusters/",
                    ])
                    .split(separator: "\n").filter { $0.hasSuffix("gotk-sync.yaml") }
                    #expect(
                        added.count == Set(added).count,
                        "\(campaign.fault): \(repository.name) has a cluster's files added twice")
                }
                let row = Row(
                    fault: campaign.fault, clusters: records.count,
                    succeeded: records.filter { $0.status == .succeeded }.count,
                    failedAsExpected: failedAsExpected, lost: lost.count,
                    seconds: (ContinuousClock.now - started).seconds)
                Self.record(row)
            }
        }

        // MARK: The ledger's disk

        /// A private mount namespace gives the ledger a disk of its own (tmpfs: really full, or really read-only)
        /// without touching the machine's; it needs root and a kernel that allows unshare, as CI has.
        static var mountsReason: String {
            "the ledger's disk is a tmpfs in a private mount namespace: needs root, sshd and unshare -m"
        }
        static let mountsAvailable: Bool = {
            guard LabFleet.sshAvailable, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
                return false
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["-m", "/bin/true"]
            guard (try? process.run()) != nil else { return false }
            process.waitUntilExit()
            return process.terminationStatus == 0
        }()

        static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

        /// Runs fleetstrap with its ledger in `disk`, a tmpfs of `kilobytes` mounted for it alone (read-only when
        /// asked, over the files `disk` already holds), then copies what the ledger's disk holds to `saved`.
        func runWithLedgerDisk(
            _ fleet: LabFleet, arguments: [String], disk: String, saved: String, kilobytes: Int, readOnly: Bool = false,
            keepingFiles: Bool = false
        ) async throws -> (status: Int32, stdout: Data, stderr: String) {
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
            let seed = fleet.fixture.directory.appendingPathComponent("ledger-seed").path
            let copied =
                "mkdir -p \(Self.quoted(seed)) && cp -a \(Self.quoted(disk))/. \(Self.quoted(seed))/ && mount -t "
                + "tmpfs -o size=\(kilobytes)k tmpfs \(Self.quoted(disk)) && cp -a \(Self.quoted(seed))/. "
                + "\(Self.quoted(disk))/"
            let mount =
                readOnly
                ? "\(copied) && mount -o remount,ro \(Self.quoted(disk))"
                : keepingFiles ? copied : "mount -t tmpfs -o size=\(kilobytes)k tmpfs \(Self.quoted(disk))"
            let command = ([ResumeTests.binary.path] + arguments).map(Self.quoted).joined(separator: " ")
            let script =
                "\(mount) || exit 99; \(command); rc=$?; cp -a \(Self.quoted(disk))/. \(Self.quoted(saved))/; exit $rc"
            return try await runCommand(["unshare", "-m", "/bin/sh", "-c", script], environment: fleet.environment)
        }

        func addedTwice(_ fleet: LabFleet) async throws -> [String] {
            var twice: [String] = []
            for repository in fleet.inventory.repositories {
                let bare = fleet.bareRepository(
                    repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                let added = try await GitCLI.output([
                    "-C", bare, "log", "--diff-filter=A", "--name-only", "--format=", "--branches", "--", "clusters/",
                ])
                .split(separator: "\n").filter { $0.hasSuffix("gotk-sync.yaml") }
                twice += Dictionary(grouping: added, by: { $0 }).filter { $0.value.count > 1 }.map { String($0.key) }
            }
            return twice
        }

        @Test(.enabled(if: mountsAvailable, Comment(rawValue: mountsReason)))
        func aFullLedgerDiskStopsTheRunAndItResumesWhenThereIsRoom() async throws {
            let started = ContinuousClock.now
            try await LabFleet.with(
                accounts: 2, clusters: Self.clusters, transports: ["ssh", "https-token"]
            ) { fleet in
                let disk = fleet.fixture.directory.appendingPathComponent("ledger-disk").path
                let saved = fleet.fixture.directory.appendingPathComponent("ledger-saved").path
                let common = [
                    "-f", fleet.inventoryPath, "--state-dir", fleet.stateDirectory, "--no-reports", "--wait-timeout",
                    "60s",
                    "--parallel", "2",
                ]
                let full = try await runWithLedgerDisk(
                    fleet, arguments: ["bootstrap"] + common + ["--ledger", "\(disk)/fleetstrap.db"], disk: disk,
                    saved: saved, kilobytes: Self.fullDiskKilobytes)
                print("disk full: exit \(full.status); \(full.stderr.suffix(1500))")
                #expect(full.status != 0 && full.status != 99, "\(full.stderr)")
                #expect(!full.stderr.contains("Fatal error"))
                #expect(
                    full.stderr.contains("stopped: cannot write the ledger")
                        && full.stderr.contains("its disk is full"),
                    "\(full.stderr.suffix(800))")
                #expect(full.stderr.contains("--resume-last"), "says what to do")
                let ledgerPath = "\(saved)/fleetstrap.db"
                let ledger = try Ledger(path: ledgerPath)
                #expect(try await ledger.integrityCheck() == "ok")
                let run = try #require(try await ledger.runs().first)
                let before = try await ledger.clusters(run: run.id)
                let doneBefore = before.filter { $0.status == .succeeded }.count
                #expect(doneBefore < Self.clusters, "the disk filled before the run ended (\(doneBefore) done)")

                // Room again (the same ledger on a disk with space): the run resumes and completes, nothing twice.
                let resumed = try await runCommand(
                    [ResumeTests.binary.path, "bootstrap"] + common + ["--ledger", ledgerPath, "--resume-last"],
                    environment: fleet.environment)
                #expect(resumed.status == 0, "\(resumed.stderr.suffix(1500))")
                let after = try Ledger(path: ledgerPath)
                let records = try await after.clusters(run: run.id)
                let lost = records.filter { $0.status != .succeeded }
                #expect(lost.isEmpty, "\(lost.map { "\($0.cluster) \($0.status)" })")
                #expect(try await after.integrityCheck() == "ok")
                #expect(try await addedTwice(fleet).isEmpty)
                Self.record(
                    Row(
                        fault: "the ledger's disk full (\(doneBefore) done before, then resumed)",
                        clusters: records.count,
                        succeeded: records.count - lost.count, failedAsExpected: 0, lost: lost.count,
                        seconds: (ContinuousClock.now - started).seconds))
            }
        }

        /// A rotation whose ledger's disk fills: no cluster changes after the refused write, those switched in that
        /// wave go back to the old key, nothing is retired, the run is stopped (exit 3), every cluster still fetches
        /// with an Active key, and with room again `rotate --resume-last` completes it.
        @Test(.enabled(if: mountsAvailable, Comment(rawValue: mountsReason)))
        func aFullLedgerDiskStopsARotationWithEveryClusterOnAWorkingKey() async throws {
            let started = ContinuousClock.now
            try await LabFleet.with(accounts: 1, clusters: Self.clusters) { fleet in
                let folder = { (name: String) in fleet.fixture.directory.appendingPathComponent(name).path }
                let common = [
                    "-f", fleet.inventoryPath, "--state-dir", fleet.stateDirectory, "--no-reports", "--wait-timeout",
                    "60s",
                    "--parallel", "2",
                ]
                var ledgerFolder = folder("ledger-0")
                try FileManager.default.createDirectory(atPath: ledgerFolder, withIntermediateDirectories: true)
                let bootstrap = try await runCommand(
                    [ResumeTests.binary.path, "bootstrap"] + common + ["--ledger", "\(ledgerFolder)/fleetstrap.db"],
                    environment: fleet.environment)
                try #require(bootstrap.status == 0, "\(bootstrap.stderr.suffix(800))")
                let auditLedger = folder("audit.db")
                // Room beyond the ledger for a few of the rotation's transactions: with 96 KB the disk fills before any
                // cluster starts (recording the new key), with 320 KB in the middle of a wave, a cluster switched.
                for (round, margin) in [96, 320].enumerated() {
                    let oldKeys = try await RotationTests.activeKeys(fleet)
                    let disk = folder("ledger-disk-\(round)")
                    let saved = folder("ledger-saved-\(round)")
                    try FileManager.default.copyItem(atPath: ledgerFolder, toPath: disk)
                    let used = try FileManager.default.contentsOfDirectory(atPath: disk).reduce(0) { total, name in
                        total
                            + ((try? FileManager.default.attributesOfItem(atPath: "\(disk)/\(name)")[.size] as? Int)
                                ?? 0)
                    }
                    let full = try await runWithLedgerDisk(
                        fleet, arguments: ["rotate"] + common + ["--ledger", "\(disk)/fleetstrap.db"], disk: disk,
                        saved: saved,
                        kilobytes: used / 1024 + margin, keepingFiles: true)
                    print(
                        "rotation, disk full (\(margin) KB of room): exit \(full.status); \(full.stderr.suffix(1200))")
                    #expect(full.status == 3, "\(full.stderr.suffix(800))")
                    #expect(
                        !full.stderr.contains("Fatal error") && !full.stderr.contains("SQLite error"),
                        "\(full.stderr.suffix(800))")
                    #expect(
                        full.stderr.contains("stopped: cannot write the ledger")
                            && full.stderr.contains("its disk is full")
                    )
                    #expect(try await RotationTests.activeKeys(fleet).starts(with: oldKeys), "the old key stays Active")
                    let savedLedger = try Ledger(path: "\(saved)/fleetstrap.db")
                    #expect(try await savedLedger.integrityCheck() == "ok")
                    let rotation = try await savedLedger.runs().first {
                        $0.command == "rotate" && $0.outcome != .succeeded
                    }
                    #expect(
                        rotation.map { $0.outcome == .stopped || $0.outcome == .running } ?? true,
                        "\(String(describing: rotation))")

                    // Every cluster fetches with an Active key: an audit (into a ledger of its own) finds nothing
                    // critical.
                    let audit = try await runCommand(
                        [ResumeTests.binary.path, "audit"] + common + [
                            "--ledger", auditLedger, "--output", "json", "--fail-on", "critical",
                        ],
                        environment: fleet.environment)
                    #expect(
                        audit.status == 0,
                        "no critical finding: \(String(decoding: audit.stdout, as: UTF8.self).prefix(2000))")

                    // Room again: the rotation resumes (or, stopped before it began, runs anew) and completes.
                    let again = try await runCommand(
                        [ResumeTests.binary.path, "rotate"] + common + ["--ledger", "\(saved)/fleetstrap.db"]
                            + (rotation == nil ? [] : ["--resume-last"]),
                        environment: fleet.environment)
                    #expect(again.status == 0, "\(again.stderr.suffix(1500))")
                    let after = try await RotationTests.activeKeys(fleet)
                    #expect(after.count == 1 && !oldKeys.contains(after[0]), "one Active key, the new one: \(after)")
                    let finalAudit = try await runCommand(
                        [ResumeTests.binary.path, "audit"] + common + ["--ledger", auditLedger, "--fail-on", "error"],
                        environment: fleet.environment)
                    #expect(
                        finalAudit.status == 0, "\(String(decoding: finalAudit.stdout, as: UTF8.self).prefix(2000))")
                    ledgerFolder = saved
                }
                // An audit whose ledger's disk is too small stops too: exit 3, the reason said once, no raw SQLite
                // error.
                let auditDisk = folder("audit-disk")
                let auditSaved = folder("audit-saved")
                let auditFull = try await runWithLedgerDisk(
                    fleet, arguments: ["audit"] + common + ["--ledger", "\(auditDisk)/audit.db"], disk: auditDisk,
                    saved: auditSaved,
                    kilobytes: 200)
                print("audit, disk full: exit \(auditFull.status); \(auditFull.stderr.suffix(600))")
                #expect(auditFull.status == 3, "\(auditFull.stderr.suffix(800))")
                #expect(
                    !auditFull.stderr.contains("SQLite error") && !auditFull.stderr.contains("Fatal error"),
                    "\(auditFull.stderr.suffix(800))")
                #expect(
                    ["its disk is full", "cannot open the ledger", "refused a write"].contains {
                        auditFull.stderr.contains($0)
                    })
                Self.record(
                    Row(
                        fault: "the ledger's disk full during a rotation, twice (stopped, exit 3), then resumed",
                        clusters: Self.clusters,
                        succeeded: Self.clusters, failedAsExpected: 0, lost: 0,
                        seconds: (ContinuousClock.now - started).seconds))
            }
        }

        /// Enough for the ledger's schema and the first clusters, not for a whole run of 8.
        static let fullDiskKilobytes = 260

        @Test(.enabled(if: mountsAvailable, Comment(rawValue: mountsReason)))
        func aReadOnlyLedgerRefusesToStartAndChangesNothing() async throws {
            let started = ContinuousClock.now
            try await LabFleet.with(
                accounts: 2, clusters: Self.clusters, transports: ["ssh", "https-token"]
            ) { fleet in
                let disk = fleet.fixture.directory.appendingPathComponent("ledger-disk").path
                let saved = fleet.fixture.directory.appendingPathComponent("ledger-saved").path
                try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
                _ = try Ledger(path: "\(disk)/fleetstrap.db")  // an existing ledger, on a disk then remounted read-only
                let common = [
                    "-f", fleet.inventoryPath, "--state-dir", fleet.stateDirectory, "--no-reports", "--wait-timeout",
                    "60s",
                ]
                let result = try await runWithLedgerDisk(
                    fleet, arguments: ["bootstrap"] + common + ["--ledger", "\(disk)/fleetstrap.db"], disk: disk,
                    saved: saved, kilobytes: 4096,
                    readOnly: true)
                print("read-only: exit \(result.status); \(result.stderr.suffix(800))")
                #expect(result.status == 3, "could not start: \(result.stderr)")
                #expect(
                    result.stderr.contains("ledger") && result.stderr.lowercased().contains("read-only"),
                    "\(result.stderr)"
                )
                let counters = fleet.fixture.lab.counters()
                #expect(
                    (counters.operations["kubernetes:patch"] ?? 0) == 0
                        && (counters.operations["iam:UploadSSHPublicKey"] ?? 0) == 0, "nothing done")
                #expect(try await addedTwice(fleet).isEmpty)
                for repository in fleet.inventory.repositories {
                    let bare = fleet.bareRepository(
                        repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                    let log = try await GitCLI.output(["-C", bare, "log", "--oneline", "--branches"])
                    #expect(!log.contains("Add Flux"), "no commit: \(log)")
                }
                Self.record(
                    Row(
                        fault: "the ledger's disk read-only (refused, exit 3)", clusters: Self.clusters, succeeded: 0,
                        failedAsExpected: 0, lost: 0,
                        seconds: (ContinuousClock.now - started).seconds))
            }
        }

        static func record(_ row: Row) {
            let all = rows.withLock { rows in
                rows.append(row)
                return rows
            }
            if all.count == campaigns.count + (mountsAvailable ? 3 : 0) { printTable(all) }
        }

        static func printTable(_ rows: [Row]) {
            var lines = [
                "| fault | clusters | succeeded | failed as expected | lost | seconds |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for row in rows {
                lines.append(
                    "| \(row.fault) | \(row.clusters) | \(row.succeeded) | \(row.failedAsExpected) | \(row.lost) | "
                        + "\(String(format: "%.1f", row.seconds)) |"
                )
            }
            print("fault campaign:\n" + lines.joined(separator: "\n"))
        }
    }
}

extension Tag {
    @Tag static var faults: Self
}
