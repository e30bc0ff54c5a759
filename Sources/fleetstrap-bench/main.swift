// fleetstrap's benchmarks, run by `make bench` in a release build. Each prints its figures and writes JSON to
// the directory given (reports/bench/ by default). Ratios are measured side by side in one run.
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let output = arguments.first { $0.hasPrefix("--out=") }.map { String($0.dropFirst("--out=".count)) } ?? "reports/bench"
let seconds = arguments.first { $0.hasPrefix("--seconds=") }.flatMap { Double($0.dropFirst("--seconds=".count)) } ?? 3
/// `--fleet=CLUSTERS:PARALLEL,…` (default below), or `--fleet=none`.
let fleetSpec =
    arguments.first { $0.hasPrefix("--fleet=") }.map { String($0.dropFirst("--fleet=".count)) }
    ?? "100:1,100:100,1000:100,10000:100"
let scenarios =
    fleetSpec == "none"
    ? []
    : fleetSpec.split(separator: ",").compactMap { item -> FleetBenchmark.Scenario? in
        let parts = item.split(separator: ":").compactMap { Int($0) }
        return parts.count == 2 ? FleetBenchmark.Scenario(clusters: parts[0], parallel: parts[1]) : nil
    }
let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)

let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]

func write<T: Encodable>(_ value: T, to name: String) throws {
    let path = (output as NSString).appendingPathComponent(name)
    try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    print("  written to \(path)")
}

print("SigV4 signing, \(Int(seconds)) s each, same 2,000 requests:")
let sigv4 = try SigV4Benchmark(seconds: seconds).run()
print(
    String(
        format: "  fleetstrap  %10.0f signatures/s (cold signing keys: %.0f/s)", sigv4.fleetstrapSignaturesPerSecond,
        sigv4.fleetstrapColdKeySignaturesPerSecond))
print(String(format: "  botocore    %10.0f signatures/s", sigv4.botocoreSignaturesPerSecond))
print(String(format: "  ratio       %10.1fx", sigv4.ratio))
try write(sigv4, to: "sigv4.json")

print("Fleet work away from the network, 10,000 clusters, best of 3:")
let micro = try FleetMicroBenchmarks(manifests: "inventories/flux-v2.4.0/gotk-components.yaml").run()
print(
    String(
        format: "  inventory validation   %8.2f s  (%.0f clusters/s)", micro.inventoryValidationSeconds,
        micro.inventoryClustersPerSecond))
print(
    String(
        format: "  components rendered    %8.1f ms, once per version and options", micro.componentsRenderMilliseconds))
print(String(format: "  sync manifests         %8.1f µs per cluster", micro.syncManifestsMicrosecondsPerCluster))
for (format, value) in micro.reportRenderSeconds.sorted(by: { $0.key < $1.key }) {
    print(String(format: "  report %-5@           %8.3f s", format as NSString, value))
}
print("  report.html            \(micro.reportHTMLBytes / 1024) KB")
try write(micro, to: "fleet-micro.json")

if !scenarios.isEmpty {
    let model = FleetBenchmark.Model()
    print(
        """
        Fleet bootstrap against the lab (scale mode), \(model.accounts) accounts, \
        \(model.accounts * model.repositoriesPerAccount) HTTPS repositories;
        """
    )
    print(
        String(
            format:
                """
                  model: AWS and Kubernetes calls %.0f ms, Git fetch %.0f ms and push %.0f ms a request, controllers \
                Available after %.0f ms, DescribeCluster %.0f/s per account and region
                """,
            model.awsCallMilliseconds, model.gitFetchMilliseconds, model.gitPushMilliseconds,
            model.deploymentDelayMilliseconds, model.eksPerSecond))
    print(
        String(
            format:
                "  critical path of one cluster: %.0f ms; CPU bound: fleetstrap's and the lab's CPU time over %d cores",
            model.criticalPathSeconds * 1000, ProcessInfo.processInfo.activeProcessorCount))
    fflush(nil)
    print(
        """
          clusters parallel     wall    ideal  ratio  CPU bound  CPU/cluster  peak RSS  lab CPU  AWS/cluster \
        AssumeRole  kube/cluster pushes/repo
        """
    )
    let report = try FleetBenchmark(binaries: binaries, manifests: "inventories/flux-v2.4.0/gotk-components.yaml").run(
        scenarios
    ) { r in
        print(
            String(
                format:
                    """
                      %8d %8d %7.1fs %7.1fs %5.2fx %8.1fs %9.1f ms %6.0f MB %7.1fs %10.2f %6d/%-4d %10.1f %6.1f (max \
                    %d)%@
                    """,
                r.clusters, r.parallel, r.wallSeconds, r.idealSeconds, r.ratioToIdeal, r.machineBoundSeconds,
                r.cpuSecondsPerCluster * 1000, r.peakRSSMegabytes, r.labCPUSeconds,
                r.awsCallsPerCluster, r.assumeRoleCalls, r.accounts, r.kubernetesCallsPerCluster,
                r.pushesPerRepositoryMean, r.pushesPerRepositoryMax,
                (r.succeeded ? "" : "  FAILED") as NSString))
        fflush(nil)  // each row as it ends, even into a file or a pipe: a row takes minutes
    }
    if let speedup = report.sequentialSpeedup {
        print(String(format: "  --parallel 1 against parallel, same clusters: %.1fx faster in parallel", speedup))
    }
    try write(report, to: "fleet.json")
}
