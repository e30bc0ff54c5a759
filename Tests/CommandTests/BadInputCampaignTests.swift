// The bad input campaign: well over a hundred broken inventories and command lines, each given to the built binary
// under a memory and CPU limit (prlimit). Every one must be refused with exit code 2 and a precise message
// (inventories: `file:line:column: error:`), never a crash, never a hang.
import Foundation
import Testing

@Suite("Bad input campaign (binary)")
struct BadInputCampaignTests {
    /// A case: what it breaks, and the inventory text (bytes, so that invalid UTF-8 can be said).
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        var testDescription: String { name }
    }

    static let base = """
        apiVersion: fleetstrap.io/v1
        kind: Fleet
        metadata:
          name: campaign
        defaults:
          account: main
          repository: fleet
          flux:
            version: 2.9.0
        accounts:
          - name: main
            id: "123456789012"
            roleArn: arn:aws:iam::123456789012:role/fleetstrap
            region: eu-west-1
        repositories:
          - name: fleet
            codecommit: fleet
            identity: flux
          - name: web
            codecommit: web
            transport: https
        identities:
          - name: flux
            account: main
            passphrase: {env: FLUX_SSH_PASSPHRASE}
        clusters:
          - name: staging
            labels: {env: staging}
          - name: production
            labels: {env: prod}
          - name: web-1
            repository: web

        """

    /// One rule broken at a time: (what, text replaced, replacement).
    static let mutations: [(String, String, String)] = [
        ("apiVersion v2", "fleetstrap.io/v1", "fleetstrap.io/v2"),
        ("apiVersion missing", "apiVersion: fleetstrap.io/v1\n", ""),
        ("apiVersion not a string", "apiVersion: fleetstrap.io/v1", "apiVersion: [fleetstrap.io/v1]"),
        ("kind wrong", "kind: Fleet", "kind: Cluster"),
        ("kind missing", "kind: Fleet\n", ""),
        ("kind a list", "kind: Fleet", "kind: [Fleet]"),
        ("unknown top-level key", "kind: Fleet\n", "kind: Fleet\ncolour: blue\n"),
        ("metadata a string", "metadata:\n  name: campaign\n", "metadata: campaign\n"),
        ("default account unknown", "  account: main\n  repository", "  account: nowhere\n  repository"),
        ("default repository unknown", "  repository: fleet\n  flux", "  repository: nowhere\n  flux"),
        ("flux version not a version", "version: 2.9.0", "version: two"),
        ("flux version a list", "version: 2.9.0", "version: [2, 4]"),
        ("flux unknown key", "    version: 2.9.0\n", "    version: 2.9.0\n    colour: blue\n"),
        ("defaults unknown key", "defaults:\n", "defaults:\n  colour: blue\n"),
        ("account id short", "id: \"123456789012\"", "id: \"12345\""),
        ("account id letters", "id: \"123456789012\"", "id: \"12345678901a\""),
        ("account id long", "id: \"123456789012\"", "id: \"1234567890123\""),
        ("role ARN not an ARN", "roleArn: arn:aws:iam::123456789012:role/fleetstrap", "roleArn: not-an-arn"),
        (
            "role ARN of a user", "roleArn: arn:aws:iam::123456789012:role/fleetstrap",
            "roleArn: arn:aws:iam::123456789012:user/fleetstrap"
        ),
        (
            "role ARN of another service", "roleArn: arn:aws:iam::123456789012:role/fleetstrap",
            "roleArn: arn:aws:s3:::bucket"
        ),
        ("region malformed", "region: eu-west-1", "region: EU_WEST"),
        ("region a number", "region: eu-west-1", "region: 42"),
        ("account name empty", "  - name: main\n", "  - name: \"\"\n"),
        ("account name with spaces", "  - name: main\n", "  - name: my account\n"),
        ("account unknown key", "    region: eu-west-1\n", "    region: eu-west-1\n    colour: blue\n"),
        ("accounts a mapping", "accounts:\n  - name: main", "accounts:\n  main:\n    name: main"),
        (
            "accounts empty",
            """
            accounts:\n  - name: main\n    id: \"123456789012\"\n    roleArn: \
            arn:aws:iam::123456789012:role/fleetstrap\n    region: eu-west-1\n
            """,
            "accounts: []\n"
        ),
        ("repository codecommit name with spaces", "codecommit: fleet", "codecommit: \"my fleet\""),
        ("repository codecommit too long", "codecommit: fleet", "codecommit: \(String(repeating: "r", count: 101))"),
        ("repository identity unknown", "identity: flux\n  - name: web", "identity: nobody\n  - name: web"),
        ("repository without a source", "    codecommit: fleet\n", ""),
        ("repository transport unknown", "transport: https", "transport: ftp"),
        (
            "repository url scp-like", "    codecommit: web\n",
            "    url: git-codecommit.eu-west-1.amazonaws.com:v1/repos/web\n"
        ),
        (
            "repository url http", "    codecommit: web\n",
            "    url: http://git-codecommit.eu-west-1.amazonaws.com/v1/repos/web\n"
        ),
        ("repository url not CodeCommit", "    codecommit: web\n", "    url: https://github.com/acme/web\n"),
        ("repository ssh without identity", "    identity: flux\n  - name: web", "\n  - name: web"),
        ("repository https-token without password", "transport: https", "transport: https-token"),
        ("repository duplicate", "  - name: web\n    codecommit: web", "  - name: fleet\n    codecommit: web"),
        ("repository unknown key", "    codecommit: web\n", "    codecommit: web\n    colour: blue\n"),
        ("repository branch empty", "    codecommit: web\n", "    codecommit: web\n    branch: \"\"\n"),
        ("repository branch invalid", "    codecommit: web\n", "    codecommit: web\n    branch: \"feature..x\"\n"),
        ("identity account unknown", "    account: main\n    passphrase", "    account: other\n    passphrase"),
        (
            "identity passphrase inline", "passphrase: {env: FLUX_SSH_PASSPHRASE}",
            "passphrase: correct horse battery staple"
        ),
        ("identity passphrase env empty", "{env: FLUX_SSH_PASSPHRASE}", "{env: \"\"}"),
        ("identity passphrase env invalid name", "{env: FLUX_SSH_PASSPHRASE}", "{env: \"1 bad name\"}"),
        ("identity passphrase file empty", "{env: FLUX_SSH_PASSPHRASE}", "{file: \"\"}"),
        ("identity passphrase unknown source", "{env: FLUX_SSH_PASSPHRASE}", "{vault: secret/flux}"),
        ("identity passphrase two sources", "{env: FLUX_SSH_PASSPHRASE}", "{env: A, file: /b}"),
        (
            "identity key bits too small", "    account: main\n    passphrase",
            "    account: main\n    keyBits: 1024\n    passphrase"
        ),
        (
            "identity key bits not a number", "    account: main\n    passphrase",
            "    account: main\n    keyBits: many\n    passphrase"
        ),
        (
            "identity max key age malformed", "    account: main\n    passphrase",
            "    account: main\n    maxKeyAge: soon\n    passphrase"
        ),
        (
            "identity duplicate",
            "identities:\n  - name: flux\n    account: main\n    passphrase: {env: FLUX_SSH_PASSPHRASE}\n",
            """
            identities:\n  - name: flux\n    account: main\n    passphrase: {env: FLUX_SSH_PASSPHRASE}\n  - name: \
            flux\n    account: main\n    passphrase: {env: FLUX_SSH_PASSPHRASE}\n
            """
        ),
        ("cluster name with spaces", "  - name: staging", "  - name: \"staging cluster\""),
        ("cluster name too long", "  - name: staging", "  - name: \(String(repeating: "c", count: 101))"),
        ("cluster duplicate", "  - name: production", "  - name: staging"),
        ("cluster label value invalid", "{env: staging}", "{env: \"bad value!\"}"),
        ("cluster label key invalid", "{env: staging}", "{\"-bad\": staging}"),
        ("cluster labels a list", "{env: staging}", "[env, staging]"),
        ("cluster repository unknown", "repository: web\n", "repository: nowhere\n"),
        ("cluster account unknown", "    repository: web\n", "    repository: web\n    account: other\n"),
        ("cluster region malformed", "    repository: web\n", "    repository: web\n    region: nowhere\n"),
        ("cluster path absolute", "    repository: web\n", "    repository: web\n    path: /etc\n"),
        ("cluster path escapes", "    repository: web\n", "    repository: web\n    path: ../../other\n"),
        ("cluster unknown key", "    repository: web\n", "    repository: web\n    colour: blue\n"),
        ("cluster a string", "  - name: web-1\n    repository: web\n", "  - web-1\n"),
        ("rollout parallelism zero", "  flux:\n", "  rollout: {parallelism: 0}\n  flux:\n"),
        ("rollout parallelism negative", "  flux:\n", "  rollout: {parallelism: -3}\n  flux:\n"),
        ("rollout waves bad", "  flux:\n", "  rollout: {waves: [50%, 10%]}\n  flux:\n"),
        ("rollout waves not sizes", "  flux:\n", "  rollout: {waves: [one, two]}\n  flux:\n"),
        ("rollout max failures over 100%", "  flux:\n", "  rollout: {maxFailures: 150%}\n  flux:\n"),
        ("rollout cluster timeout malformed", "  flux:\n", "  rollout: {clusterTimeout: forever}\n  flux:\n"),
        ("flux registry malformed", "    version: 2.9.0\n", "    version: 2.9.0\n    registry: \"not a registry//\"\n"),
        (
            "flux components unknown", "    version: 2.9.0\n",
            "    version: 2.9.0\n    components: [source-controller, teleporter]\n"
        ),
        ("flux manifests without source", "    version: 2.9.0\n", "    version: 2.9.0\n    manifests: {}\n"),
        (
            "flux manifests url http", "    version: 2.9.0\n",
            "    version: 2.9.0\n    manifests: {url: \"http://example.com/x.yaml\"}\n"
        ),
        ("include missing", "kind: Fleet\n", "kind: Fleet\ninclude: [does-not-exist.yaml]\n"),
    ]

    /// What no rule anticipates: malformed YAML and hostile sizes.
    static var fuzzed: [Case] {
        var cases: [Case] = []
        func add(_ name: String, _ text: String) { cases.append(Case(name: name, bytes: Array(text.utf8))) }
        add("empty file", "")
        add("only a comment", "# nothing\n")
        add("a scalar document", "just a string\n")
        add("a list document", "- a\n- b\n")
        add("deep flow nesting", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        add(
            "deep block nesting",
            (0..<5_000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n") + " v\n")
        add("deep dashes", String(repeating: "- ", count: 20_000) + "x\n")
        add(
            "huge scalar",
            base.replacingOccurrences(of: "name: campaign", with: "name: " + String(repeating: "x", count: 8 << 20)))
        add("huge key", String(repeating: "k", count: 4 << 20) + ": v\n")
        add("many keys", (0..<200_000).map { "k\($0): v" }.joined(separator: "\n"))
        add(
            "alias bomb",
            """
            a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
            b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
            c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
            d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
            e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
            f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
            g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
            h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
            i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
            """)
        add("alias to nowhere", base.replacingOccurrences(of: "{env: staging}", with: "*nowhere"))
        add("recursive merge keys", "a: &a {<<: *a}\n")
        add("tab indentation", base.replacingOccurrences(of: "\n  - name: staging", with: "\n\t- name: staging"))
        add("unclosed quote", base.replacingOccurrences(of: "name: campaign", with: "name: \"campaign"))
        add("unclosed flow", base.replacingOccurrences(of: "{env: staging}", with: "{env: staging"))
        add("duplicate key", base.replacingOccurrences(of: "kind: Fleet\n", with: "kind: Fleet\nkind: Fleet\n"))
        add("NUL bytes", base.replacingOccurrences(of: "name: campaign", with: "name: camp\u{0}aign"))
        add("control characters", base.replacingOccurrences(of: "name: campaign", with: "name: camp\u{7}\u{1b}aign"))
        add("two documents", base + "---\n" + base)
        add("directive only", "%YAML 1.1\n---\n")
        add("bad directive", "%YAML 9.9\n---\nkind: Fleet\n")
        add("unknown tag", base.replacingOccurrences(of: "kind: Fleet", with: "kind: !!python/object Fleet"))
        add("binary tag", base.replacingOccurrences(of: "kind: Fleet", with: "kind: !!binary aGVsbG8="))
        add("very long line", "kind: " + String(repeating: "Fleet ", count: 500_000) + "\n")
        add("BOM then garbage", "\u{FEFF}{{{\n")
        add("only indentation", String(repeating: "    \n", count: 10_000))
        add(
            "windows line endings broken",
            base.replacingOccurrences(of: "\n", with: "\r").replacingOccurrences(
                of: "kind: Fleet", with: "kind: [Fleet"))
        cases.append(
            Case(
                name: "non-UTF-8 bytes",
                bytes: Array(base.utf8.prefix(40)) + [0xFF, 0xFE, 0xC3, 0x28] + Array(base.utf8.dropFirst(40))))
        cases.append(
            Case(
                name: "UTF-16 file",
                bytes: [0xFF, 0xFE] + base.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }.prefix(4000)))
        cases.append(
            Case(
                name: "random bytes", bytes: (0..<65_536).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
            ))
        return cases
    }

    static var inventories: [Case] {
        mutations.map { name, old, new in
            precondition(base.contains(old), "mutation '\(name)' does not apply")
            return Case(name: name, bytes: Array(base.replacingOccurrences(of: old, with: new).utf8))
        } + fuzzed
    }

    /// Command lines that must be refused before anything happens (the inventory given is valid).
    static let commandLines: [[String]] = [
        ["bootstrap", "-f", "INVENTORY", "--parallel", "0"],
        ["bootstrap", "-f", "INVENTORY", "--parallel", "-4"],
        ["bootstrap", "-f", "INVENTORY", "--parallel", "many"],
        ["bootstrap", "-f", "INVENTORY", "--waves", "0%"],
        ["bootstrap", "-f", "INVENTORY", "--waves", "50%,10%"],
        ["bootstrap", "-f", "INVENTORY", "--waves", "abc"],
        ["bootstrap", "-f", "INVENTORY", "--max-failures", "150%"],
        ["bootstrap", "-f", "INVENTORY", "--max-failures", "-1"],
        ["bootstrap", "-f", "INVENTORY", "--wait-timeout", "5x"],
        ["bootstrap", "-f", "INVENTORY", "--selector", "env=,"],
        ["bootstrap", "-f", "INVENTORY", "--selector", "env in (a"],
        ["bootstrap", "-f", "INVENTORY", "--cluster", "no-such-cluster"],
        ["bootstrap", "-f", "INVENTORY", "--shard", "5/4"],
        ["bootstrap", "-f", "INVENTORY", "--shard", "x"],
        ["bootstrap", "-f", "INVENTORY", "--shard", "0/0"],
        ["bootstrap", "-f", "INVENTORY", "--output", "yaml"],
        ["bootstrap", "-f", "INVENTORY", "--log-format", "xml"],
        ["bootstrap", "-f", "INVENTORY", "--no-such-flag"],
        ["bootstrap", "-f", "INVENTORY", "--quiet", "--verbose"],
        ["plan", "-f", "INVENTORY", "--parallel", "0"],
        ["rotate", "-f", "INVENTORY", "--older-than", "soon"],
        ["rotate", "-f", "INVENTORY", "--grace", "-1d"],
        ["rotate", "-f", "INVENTORY", "--identity", "nobody"],
        ["audit", "-f", "INVENTORY", "--fail-on", "bogus"],
        ["report", "latest", "--format", "pdf"],
        ["validate", "-f", "INVENTORY", "--output", "yaml"],
        ["validate", "-f", "INVENTORY", "--selector", "=="],
        ["validate"],
        ["validate", "-f", "/"],
        ["no-such-command"],
    ]

    static func write(_ bytes: [UInt8], name: String) throws -> (directory: URL, file: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fleetstrap-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("fleet.yaml")
        try Data(bytes).write(to: file)
        return (directory, file)
    }

    /// Runs the binary under 2 GiB of address space and 60 s of CPU: a runaway is killed, and counts as a failure.
    static func limited(_ arguments: [String], in directory: URL) throws -> CommandResult {
        try Binary.run(
            ["--as=\(2 << 30)", "--cpu=60", "--", Binary.productsDirectory.appendingPathComponent("fleetstrap").path]
                + arguments,
            executable: "/usr/bin/prlimit",
            environment: ["PATH": "/usr/bin:/bin", "HOME": directory.path, "AWS_EC2_METADATA_DISABLED": "true"])
    }

    /// Every case breaks one thing in a valid inventory, so each refusal is for that thing alone.
    @Test func baseInventoryIsValid() throws {
        let (directory, file) = try Self.write(Array(Self.base.utf8), name: "valid")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.limited(["validate", "-f", file.path], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func campaignIsLargeEnough() {
        #expect(
            Self.inventories.count + Self.commandLines.count >= 100,
            "\(Self.inventories.count) + \(Self.commandLines.count)")
    }

    @Test(arguments: inventories)
    func brokenInventoryIsRefusedPrecisely(_ item: Case) throws {
        let (directory, file) = try Self.write(item.bytes, name: item.name)
        defer { try? FileManager.default.removeItem(at: directory) }
        for command in [
            ["validate", "-f", file.path],
            ["bootstrap", "-f", file.path, "--ledger", directory.appendingPathComponent("l.db").path],
        ] {
            let result = try Self.limited(command, in: directory)
            #expect(
                result.status == 2, "\(item.name): \(command[0]) exited \(result.status): \(result.stderr.prefix(600))")
            #expect(
                result.stderr.contains("\(file.path):"),
                "\(item.name): no file:line:column in \(result.stderr.prefix(600))")
            #expect(
                result.stderr.range(of: #":\d+:\d+: error: "#, options: .regularExpression) != nil,
                "\(item.name): \(result.stderr.prefix(600))")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), "\(item.name)")
            // Nothing written for an invalid inventory: no ledger, no state, no reports.
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "fleet.yaml" }
            #expect(left.isEmpty, "\(item.name): left \(left)")
        }
    }

    /// An inventory without clusters is valid (validate warns about its unused repositories), and every fleet command
    /// refuses it before opening a ledger; so does a selection that leaves no cluster.
    @Test func emptySelectionIsRefusedBeforeAnythingIsWritten() throws {
        let clusters =
            """
            clusters:\n  - name: staging\n    labels: {env: staging}\n  - name: production\n    labels: {env: \
            prod}\n  - name: web-1\n    repository: web\n
            """
        #expect(Self.base.contains(clusters))
        let (directory, file) = try Self.write(
            Array(Self.base.replacingOccurrences(of: clusters, with: "clusters: []\n").utf8), name: "empty")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = directory.appendingPathComponent("l.db").path
        let validate = try Self.limited(["validate", "-f", file.path], in: directory)
        #expect(
            validate.status == 0 && validate.stderr.contains("warning: repository 'fleet' is not used by any cluster"),
            "\(validate.stderr)")
        for command in ["bootstrap", "rotate", "audit"] {
            let result = try Self.limited([command, "-f", file.path, "--ledger", ledger], in: directory)
            #expect(result.status == 2, "\(command) exited \(result.status): \(result.stderr)")
            #expect(
                result.stderr.contains("\(file.path): the inventory has no clusters"), "\(command): \(result.stderr)")
        }
        let (selectedDirectory, selectedFile) = try Self.write(Array(Self.base.utf8), name: "valid")
        defer { try? FileManager.default.removeItem(at: selectedDirectory) }
        let result = try Self.limited(
            ["bootstrap", "-f", selectedFile.path, "--ledger", ledger, "--selector", "env=nowhere"],
            in: selectedDirectory)
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("no cluster selected: --selector 'env=nowhere' leaves none of the 3 clusters"),
            "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["fleet.yaml"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: selectedDirectory.path) == ["fleet.yaml"])
    }

    @Test(arguments: commandLines)
    func badCommandLineIsRefused(_ arguments: [String]) throws {
        let (directory, file) = try Self.write(Array(Self.base.utf8), name: "valid")
        defer { try? FileManager.default.removeItem(at: directory) }
        let command =
            arguments.map { $0 == "INVENTORY" ? file.path : $0 }
            + (arguments.first == "report" ? ["--ledger", directory.appendingPathComponent("l.db").path] : [])
        let result = try Self.limited(command, in: directory)
        #expect([2, 3].contains(result.status), "\(arguments) exited \(result.status): \(result.stderr.prefix(600))")
        #expect(!result.stderr.isEmpty, "\(arguments): no message")
        #expect(
            result.stderr.contains("error") || result.stderr.contains("Error"),
            "\(arguments): \(result.stderr.prefix(600))")
        #expect(!result.stderr.contains("Fatal error"), "\(arguments)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "fleet.yaml" }
        #expect(left.isEmpty, "\(arguments): left \(left)")
    }
}
