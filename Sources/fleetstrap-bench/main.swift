// fleetstrap's benchmarks, run by `make bench` in a release build. Each prints its figures and writes JSON to
// the directory given (reports/bench/ by default). Ratios are measured side by side in one run.
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let output = arguments.first { $0.hasPrefix("--out=") }.map { String($0.dropFirst("--out=".count)) } ?? "reports/bench"
let seconds = arguments.first { $0.hasPrefix("--seconds=") }.flatMap { Double($0.dropFirst("--seconds=".count)) } ?? 3
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
print(String(format: "  fleetstrap  %10.0f signatures/s (cold signing keys: %.0f/s)", sigv4.fleetstrapSignaturesPerSecond, sigv4.fleetstrapColdKeySignaturesPerSecond))
print(String(format: "  botocore    %10.0f signatures/s", sigv4.botocoreSignaturesPerSecond))
print(String(format: "  ratio       %10.1fx", sigv4.ratio))
try write(sigv4, to: "sigv4.json")

print("Fleet work away from the network, 10,000 clusters, best of 3:")
let micro = try FleetMicroBenchmarks(manifests: "inventories/flux-v2.4.0/gotk-components.yaml").run()
print(String(format: "  inventory validation   %8.2f s  (%.0f clusters/s)", micro.inventoryValidationSeconds, micro.inventoryClustersPerSecond))
print(String(format: "  components rendered    %8.1f ms, once per version and options", micro.componentsRenderMilliseconds))
print(String(format: "  sync manifests         %8.1f µs per cluster", micro.syncManifestsMicrosecondsPerCluster))
for (format, value) in micro.reportRenderSeconds.sorted(by: { $0.key < $1.key }) {
    print(String(format: "  report %-5@           %8.3f s", format as NSString, value))
}
print("  report.html            \(micro.reportHTMLBytes / 1024) KB")
try write(micro, to: "fleet-micro.json")
