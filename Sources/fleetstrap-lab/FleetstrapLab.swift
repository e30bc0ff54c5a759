// fleetstrap-lab: a local stand-in for AWS (STS, IAM, EKS, CodeCommit) and CodeCommit's Git over HTTPS and SSH,
// for tests, the demo and benchmarks. Never part of fleetstrap itself.
import ArgumentParser
import FleetLab
import Foundation

@main
struct FleetstrapLab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetstrap-lab",
        abstract: "A local AWS, CodeCommit and EKS for fleetstrap's tests, demo and benchmarks.",
        subcommands: [Serve.self, InventoryCommand.self])
}

struct LabOptions: ParsableArguments {
    @Option(help: "A lab configuration (YAML); without one, a fleet is generated from the counts below.")
    var config: String?

    @Option(help: "Accounts to generate.")
    var accounts = 3

    @Option(help: "Clusters to generate.")
    var clusters = 6

    @Option(help: "Regions, comma-separated.")
    var regions = "eu-west-1,us-east-1,ap-southeast-2"

    @Option(help: "CodeCommit repositories per account (each account also gets one SSH machine user, flux-<account>).")
    var repositoriesPerAccount = 1

    @Option(help: "The lab's state folder (repositories, CA, state file).")
    var state = ".lab"

    func labConfig() throws -> LabConfig {
        if let config { return try LabConfig.load(path: config) }
        return LabConfig.generated(
            accounts: accounts, clusters: clusters, regions: regions.split(separator: ",").map(String.init),
            repositoriesPerAccount: repositoriesPerAccount)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve until SIGINT or SIGTERM; writes <state>/lab.json and lab.env.")

    @OptionGroup var lab: LabOptions

    @Option(help: "Address to listen on: loopback only (127.0.0.1).")
    var listen = "127.0.0.1"

    @Option(help: "HTTPS port (0: a free one).")
    var port = 0

    @Flag(help: "Do not start sshd.")
    var noSsh = false

    func validate() throws {
        guard listen == "127.0.0.1" || listen == "localhost" else {
            throw ValidationError("the lab listens on loopback only (127.0.0.1), not on '\(listen)'")
        }
    }

    func run() async throws {
        var options = Lab.Options(stateDirectory: lab.state, config: try lab.labConfig())
        options.port = port
        options.ssh = !noSsh
        let started = try await Lab.start(options)
        let info = started.info
        var lines = [
            "fleetstrap-lab listening on \(info.endpoint)", "  CA bundle:    \(info.caBundle)",
            "  credentials:  \(info.accessKeyId) (secret in \(lab.state)/lab.json)",
        ]
        if let port = info.sshPort { lines.append("  Git over SSH: ssh://127.0.0.1:\(port)/v1/repos/<name>") } else {
            lines.append("  Git over SSH: off (\(info.sshUnavailable ?? "?"))")
        }
        lines.append("  environment:  source \(lab.state)/lab.env")
        say(lines.joined(separator: "\n"))
        await waitForSignal()
        await started.stop()
        say("fleetstrap-lab stopped")
    }

    private func waitForSignal() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let sources = [SIGINT, SIGTERM].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            return source
        }
        for await _ in stream { break }
        sources.forEach { $0.cancel() }
    }
}

/// Unbuffered, so a supervisor reading our output sees each line when it is written.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Write a fleetstrap inventory matching the lab's fleet.")

    @OptionGroup var lab: LabOptions

    @Option(name: .shortAndLong, help: "Where to write it (default: standard output).")
    var output: String?

    @Option(help: "Flux version the inventory asks for.")
    var fluxVersion = "2.4.0"

    func run() async throws {
        let config = try lab.labConfig()
        var sshPort: Int?
        if let data = FileManager.default.contents(atPath: "\(lab.state)/lab.json"),
            let info = try? JSONDecoder().decode(Lab.Info.self, from: data)
        {
            sshPort = info.sshPort
        }
        let text = LabInventory.render(config, sshPort: sshPort, fluxVersion: fluxVersion)
        if let output { try text.write(toFile: output, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
    }
}
