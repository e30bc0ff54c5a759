// fleetstrap-lab: a local stand-in for AWS (STS, IAM, EKS, CodeCommit) and CodeCommit's Git over HTTPS and SSH,
// for tests, the demo and benchmarks. Never part of fleetstrap itself.
import ArgumentParser
import FleetLab
import Foundation
import HTTP

@main
struct FleetstrapLab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetstrap-lab",
        abstract: "A local AWS, CodeCommit and EKS for fleetstrap's tests, demo and benchmarks.",
        subcommands: [
            Serve.self, InventoryCommand.self, FaultsCommand.self, CountersCommand.self, RivalPushCommand.self,
        ])
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

    @Option(help: "How long a Deployment takes to become Available (a Go duration).")
    var deploymentDelay: String?

    @Flag(
        help:
            """
            Simulated source-controllers check credentials against IAM instead of fetching (for thousands of \
            clusters).
            """
    )
    var scaleMode = false

    @Flag(
        help:
            """
            One HTTPS listener for every cluster, told apart by TLS server name (for thousands of clusters; not for \
            kubectl).
            """
    )
    var sharedClusterListener = false

    @Option(help: "Faults in force from the start (YAML, the shape of PUT /_lab/faults).")
    var faults: String?

    func labConfig() throws -> LabConfig {
        var config =
            if let config { try LabConfig.load(path: config) } else {
                LabConfig.generated(
                    accounts: accounts, clusters: clusters, regions: regions.split(separator: ",").map(String.init),
                    repositoriesPerAccount: repositoriesPerAccount)
            }
        if deploymentDelay != nil || scaleMode {
            var controllers = config.controllers ?? .init()
            controllers.deploymentDelay = deploymentDelay ?? controllers.deploymentDelay
            if scaleMode { controllers.scaleMode = true }
            config.controllers = controllers
        }
        if sharedClusterListener { config.sharedClusterListener = true }
        if let faults { config.faults = try LabFaults.load(path: faults) }
        try config.validate()
        return config
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve until SIGINT or SIGTERM; writes <state>/lab.json and lab.env.")

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
        if let port = info.sshPort {
            lines.append("  Git over SSH: ssh://127.0.0.1:\(port)/v1/repos/<name>")
        } else {
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
        for source in sources { source.cancel() }
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

    @Option(help: "Local component manifests for that version (a gotk-components.yaml or its folder).")
    var fluxManifests: String?

    @Option(help: "Transports given to the repositories in turn: ssh, https-token (comma-separated).")
    var transports = "ssh"

    func run() async throws {
        let config = try lab.labConfig()
        let info = FileManager.default.contents(atPath: "\(lab.state)/lab.json").flatMap {
            try? JSONDecoder().decode(Lab.Info.self, from: $0)
        }
        let text = LabInventory.render(
            config, sshPort: info?.sshPort, fluxVersion: fluxVersion, manifests: fluxManifests,
            transports: transports.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, info: info)
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            print(text, terminator: "")
        }
    }
}

// MARK: - A running lab, through its admin endpoint

struct RunningLab: ParsableArguments {
    @Option(help: "The running lab's state folder (its lab.json has the endpoint and admin token).")
    var state = ".lab"

    func call(_ method: String, _ path: String, body: [UInt8] = []) async throws -> String {
        guard let data = FileManager.default.contents(atPath: "\(state)/lab.json"),
            let info = try? JSONDecoder().decode(Lab.Info.self, from: data)
        else {
            throw ValidationError(
                "no running lab at \(state) (no readable \(state)/lab.json): start one with 'fleetstrap-lab serve'")
        }
        let ca = try Array(Data(contentsOf: URL(fileURLWithPath: info.caBundle)))
        let response = try await HTTPClient.shared.execute(
            HTTPRequest(
                method: method, url: info.endpoint + path, headers: [("Authorization", "Bearer \(info.adminToken)")],
                body: body,
                trust: .pem(ca)))
        guard (200..<300).contains(response.status) else {
            throw ValidationError("the lab refused \(method) \(path): \(response.status) \(response.bodyText)")
        }
        return response.bodyText
    }
}

struct FaultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faults",
        abstract:
            """
            Show the faults in force, or replace them with a file's (YAML; '-' reads standard input; an empty file \
            clears them).
            """
    )

    @OptionGroup var lab: RunningLab

    @Argument(help: "Faults to set.")
    var file: String?

    func run() async throws {
        guard let file else { return print(try await lab.call("GET", "/_lab/faults")) }
        let body =
            file == "-"
            ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        print(try await lab.call("PUT", "/_lab/faults", body: Array(body)))
    }
}

struct CountersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counters",
        abstract:
            "What the lab served: requests per service, operation, cluster and repository; throttled, failed, denied.")

    @OptionGroup var lab: RunningLab

    @Flag(help: "Start counting afresh.")
    var reset = false

    func run() async throws {
        if reset {
            _ = try await lab.call("DELETE", "/_lab/counters")
        } else {
            print(try await lab.call("GET", "/_lab/counters"))
        }
    }
}

struct RivalPushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rival-push", abstract: "Push a commit to a repository now, as another writer would.")

    @OptionGroup var lab: RunningLab

    @Option(help: "Account name or id.")
    var account: String

    @Option(help: "Repository name.")
    var repository: String

    @Option(help: "Branch (default: the repository's HEAD).")
    var branch: String?

    func run() async throws {
        var request: [String: String] = ["account": account, "repository": repository]
        request["branch"] = branch
        print(try await lab.call("POST", "/_lab/rival-push", body: Array(try JSONEncoder().encode(request))))
    }
}
