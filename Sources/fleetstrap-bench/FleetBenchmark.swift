// The fleet benchmark: fleetstrap (a release build, as a child process) bootstraps a lab fleet in scale mode under a
// latency model (every AWS and Kubernetes call delayed, Git fetches and pushes too, DescribeCluster rate-limited per
// account and region as AWS does), and the wall time is set against the ideal for that model: the best any tool
// could do, from one cluster's critical path, the number of rounds `--parallel` allows and the rate-limit floor.
// CPU time and peak memory come from wait4; AWS calls, Kubernetes calls and pushes from the lab's counters.
import Foundation
import Inventory

struct FleetBenchmark {
    struct Scenario: Codable {
        var clusters: Int
        var parallel: Int
    }

    /// What every request costs in the lab, and AWS's limits.
    struct Model: Codable {
        var awsCallMilliseconds = 20.0
        var kubernetesCallMilliseconds = 20.0
        var gitFetchMilliseconds = 20.0
        var gitPushMilliseconds = 50.0
        /// How long a controller Deployment takes to become Available (source-controller fetches only then).
        var deploymentDelayMilliseconds = 200.0
        /// DescribeCluster per account and region (AWS's EKS control-plane API throttles per account and region).
        var eksPerSecond = 10.0
        var eksBurst = 10
        var accounts = 10
        var repositoriesPerAccount = 3

        var faultsYAML: String {
            """
            rules:
              - {service: sts, latency: \(Int(awsCallMilliseconds))ms}
              - {service: iam, latency: \(Int(awsCallMilliseconds))ms}
              - {service: eks, latency: \(Int(awsCallMilliseconds))ms}
              - {service: codecommit, latency: \(Int(awsCallMilliseconds))ms}
              - {service: kubernetes, latency: \(Int(kubernetesCallMilliseconds))ms}
              - {service: git, operation: git-upload-pack, latency: \(Int(gitFetchMilliseconds))ms}
              - {service: git, operation: git-receive-pack, latency: \(Int(gitPushMilliseconds))ms}
            rateLimits:
              - {service: eks, perSecond: \(eksPerSecond), burst: \(eksBurst)}

            """
        }

        /// One cluster's bootstrap as a chain of dependent round trips: what no tool can overlap.
        var criticalPath: [(step: String, milliseconds: Double)] {
            let k = kubernetesCallMilliseconds
            return [
                ("DescribeCluster", awsCallMilliseconds),
                ("preflight: version and access reviews, at once", k),
                // Git's smart HTTP: a push is two requests (the ref advertisement, then the pack), each charged the
                // push latency by the lab. The fetch a writer needs once per repository is in `onceMilliseconds`.
                ("repository: push (ref advertisement, then the pack)", 2 * gitPushMilliseconds),
                ("components: CRDs and namespace, at once", k),
                ("components: CRDs established", k),
                ("components: the rest, at once", k),
                (
                    "controllers Available (the secret, the sync objects and the reconcile request overlap it)",
                    max(deploymentDelayMilliseconds, 3 * k)
                ),
                ("GitRepository, Kustomization and Deployments read Ready, at once", k),
            ]
        }

        var criticalPathSeconds: Double { criticalPath.map(\.milliseconds).reduce(0, +) / 1000 }

        /// Paid once per run, not per cluster: AssumeRole (accounts at once) and a repository's first fetch (two
        /// requests, repositories at once).
        var onceMilliseconds: Double { awsCallMilliseconds + 2 * gitFetchMilliseconds }
    }

    struct Result: Codable {
        var clusters: Int
        var parallel: Int
        var succeeded: Bool
        var wallSeconds: Double
        var idealSeconds: Double
        var ratioToIdeal: Double
        var criticalPathSeconds: Double
        var rounds: Int
        var rateLimitFloorSeconds: Double
        var cpuSecondsPerCluster: Double
        var cpuSeconds: Double
        var peakRSSMegabytes: Double
        var labCPUSeconds: Double
        /// Both processes' CPU time over this machine's cores: the wall time below which this machine cannot go,
        /// whatever the latency model says (the lab stands in for AWS and every API server on the same cores).
        var machineBoundSeconds: Double
        var awsCallsPerCluster: Double
        var assumeRoleCalls: Int
        var accounts: Int
        var describeClusterCalls: Int
        var kubernetesCallsPerCluster: Double
        var repositories: Int
        var pushesPerRepositoryMax: Int
        var pushesPerRepositoryMean: Double
        var throttled: [String: Int]
    }

    struct Report: Codable {
        var benchmark = "fleet"
        var model: Model
        var criticalPath: [String: Double]
        var results: [Result]
        var sequentialSpeedup: Double?
        var cores = ProcessInfo.processInfo.activeProcessorCount
        var note =
            """
            release build; the lab and fleetstrap share this machine's cores; ideal = AssumeRole and a first fetch \
            per repository + rounds x critical path, or the rate-limit floor if higher; machineBound = (fleetstrap \
            CPU + lab CPU) / cores
            """
    }

    let binaries: String
    let manifests: String
    let model = Model()

    func run(_ scenarios: [Scenario], progress: (Result) -> Void) throws -> Report {
        var results: [Result] = []
        for scenario in scenarios {
            let result = try run(scenario)
            progress(result)
            results.append(result)
        }
        let sequential = results.first { $0.parallel == 1 }
        let parallel = results.first { $0.clusters == sequential?.clusters && $0.parallel > 1 }
        return Report(
            model: model,
            criticalPath: Dictionary(uniqueKeysWithValues: model.criticalPath.map { ($0.step, $0.milliseconds) }),
            results: results,
            sequentialSpeedup: sequential.flatMap { s in parallel.map { s.wallSeconds / $0.wallSeconds } })
    }

    private func run(_ scenario: Scenario) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetstrap-bench-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try model.faultsYAML.write(toFile: "\(directory)/faults.yaml", atomically: true, encoding: .utf8)
        let fleet = [
            "--accounts", "\(model.accounts)", "--repositories-per-account", "\(model.repositoriesPerAccount)",
            "--clusters", "\(scenario.clusters)",
            "--scale-mode", "--shared-cluster-listener", "--deployment-delay",
            "\(Int(model.deploymentDelayMilliseconds))ms", "--state", "\(directory)/lab",
        ]
        let base = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TMPDIR"].contains($0.key) }
        let lab = try ChildRun.start(
            "\(binaries)/fleetstrap-lab", ["serve"] + fleet + ["--no-ssh", "--faults", "\(directory)/faults.yaml"],
            environment: base, log: "\(directory)/lab.log")
        var labStopped = false
        defer {
            if !labStopped {
                lab.terminate()
                _ = lab.wait()
            }
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while !FileManager.default.fileExists(atPath: "\(directory)/lab/lab.env") {
            guard ContinuousClock.now < deadline else {
                throw BenchFailure(
                    """
                    the lab did not start: \
                    \((try? String(contentsOfFile: "\(directory)/lab.log", encoding: .utf8)) ?? "")
                    """
                )
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        _ = try ChildRun.output(
            "\(binaries)/fleetstrap-lab",
            ["inventory"] + fleet + [
                "--transports", "https-token", "--flux-manifests", manifests, "-o", "\(directory)/fleet.yaml",
            ])
        let inventory = try InventoryLoader.load(path: "\(directory)/fleet.yaml")
        var environment = base.merging(try Self.labEnvironment("\(directory)/lab/lab.env")) { $1 }
        environment["FLEETSTRAP_LAB_PASSPHRASE"] = "benchmark-\(UUID().uuidString.prefix(8))"
        _ = try ChildRun.output("\(binaries)/fleetstrap-lab", ["counters", "--reset", "--state", "\(directory)/lab"])

        let bootstrap = try ChildRun.start(
            "\(binaries)/fleetstrap",
            [
                "bootstrap", "-f", "\(directory)/fleet.yaml", "--ledger", "\(directory)/fleetstrap.db", "--state-dir",
                "\(directory)/state",
                "--parallel", "\(scenario.parallel)", "--waves", "100%", "--no-reports", "-q",
            ],
            environment: environment, log: "\(directory)/bootstrap.log")
        let usage = bootstrap.wait()
        let counters = try JSONDecoder().decode(
            Counters.self,
            from: Data(
                try ChildRun.output("\(binaries)/fleetstrap-lab", ["counters", "--state", "\(directory)/lab"]).utf8))
        lab.terminate()
        let labUsage = lab.wait()
        labStopped = true
        if usage.status != 0 {
            let log = (try? String(contentsOfFile: "\(directory)/bootstrap.log", encoding: .utf8)) ?? ""
            print(
                "  fleetstrap exited \(usage.status):\n" + log.split(separator: "\n").suffix(8).joined(separator: "\n"))
        }

        let n = Double(scenario.clusters)
        let rounds = (scenario.clusters + scenario.parallel - 1) / scenario.parallel
        // DescribeCluster: one per cluster, each (account, region) its own bucket.
        let perBucket = Dictionary(grouping: inventory.clusters) { "\($0.account)/\($0.region)" }.mapValues(\.count)
        let floor = perBucket.values.map { max(0, Double($0 - model.eksBurst)) / model.eksPerSecond }.max() ?? 0
        let latencyBound = model.onceMilliseconds / 1000 + Double(rounds) * model.criticalPathSeconds
        let ideal = max(latencyBound, floor + model.criticalPathSeconds)
        let aws = ["sts", "iam", "eks", "codecommit"].map { counters.requests[$0] ?? 0 }.reduce(0, +)
        let pushes = counters.pushes.values
        return Result(
            clusters: scenario.clusters, parallel: scenario.parallel, succeeded: usage.status == 0,
            wallSeconds: usage.wallSeconds, idealSeconds: ideal,
            ratioToIdeal: usage.wallSeconds / ideal, criticalPathSeconds: model.criticalPathSeconds, rounds: rounds,
            rateLimitFloorSeconds: floor,
            cpuSecondsPerCluster: usage.cpuSeconds / n, cpuSeconds: usage.cpuSeconds,
            peakRSSMegabytes: usage.peakRSSMegabytes, labCPUSeconds: labUsage.cpuSeconds,
            machineBoundSeconds: (usage.cpuSeconds + labUsage.cpuSeconds)
                / Double(ProcessInfo.processInfo.activeProcessorCount),
            awsCallsPerCluster: Double(aws) / n, assumeRoleCalls: counters.operations["sts:AssumeRole"] ?? 0,
            accounts: Set(inventory.clusters.map(\.account)).count,
            describeClusterCalls: counters.operations["eks:DescribeCluster"] ?? 0,
            kubernetesCallsPerCluster: Double(counters.requests["kubernetes"] ?? 0) / n,
            repositories: pushes.count, pushesPerRepositoryMax: pushes.max() ?? 0,
            pushesPerRepositoryMean: pushes.isEmpty ? 0 : Double(pushes.reduce(0, +)) / Double(pushes.count),
            throttled: counters.throttled)
    }

    /// What the lab counted (the part of `LabCounters` read here).
    struct Counters: Decodable {
        var requests: [String: Int]
        var operations: [String: Int]
        var pushes: [String: Int]
        var throttled: [String: Int]
    }

    /// `export NAME='value'` lines, as the lab writes them.
    static func labEnvironment(_ path: String) throws -> [String: String] {
        var environment: [String: String] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            environment[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return environment
    }
}
