// One test per validation rule: the exact message and position of each refusal.
import Foundation
import Inventory
import Testing

@Suite("Inventory rules")
struct InventoryRuleTests {
    @Test func fixtureIsValidAndDefaultsApply() throws {
        let result = Fixture.validate()
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let inventory = try #require(result.inventory)
        let cluster = try #require(inventory.cluster(named: "one"))
        #expect(cluster.account == "main")
        #expect(cluster.region == "eu-west-1")
        #expect(cluster.path == "clusters/one")
        #expect(cluster.access == .eks(clusterName: "one"))
        #expect(cluster.flux.version == SemanticVersion(2, 4, 0))
        #expect(cluster.flux.components == FluxSettings.defaultComponents)
        #expect(cluster.flux.networkPolicy)
        let repository = try #require(inventory.repository(named: "fleet"))
        #expect(repository.url() == "ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        #expect(
            repository.url(sshUser: "APKAEIBAERJR2EXAMPLE")
                == "ssh://APKAEIBAERJR2EXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        #expect(repository.branch == "main")
        let identity = try #require(inventory.identity(named: "flux"))
        #expect(identity.iamUser == "flux")
        #expect(identity.keyBits == 4096)
        #expect(identity.passphrase == .environment("PASS"))
        #expect(inventory.rollout == .default)
    }

    // MARK: YAML

    @Test func syntaxErrorHasPosition() {
        let result = Fixture.validate(replacing: [12: "    region: [eu-west-1"])
        let error = result.errors.first
        #expect(result.errors.count == 1)
        #expect(error?.rule == "yaml-syntax")
        #expect(error?.location.line == 13)
        #expect(error?.message.hasPrefix("YAML syntax: did not find expected ',' or ']'") == true)
    }

    @Test func tabIndentationGetsAHint() {
        let result = Fixture.validate(replacing: [12: "\tregion: eu-west-1"])
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.rule == "yaml-syntax")
        #expect(result.errors.first?.location.line == 12)
        #expect(result.errors.first?.hint == "indent with spaces; YAML does not allow tabs for indentation")
    }

    @Test func duplicateKey() {
        expectSingleError(
            Fixture.validate(replacing: [12: "    region: eu-west-1\n    region: eu-west-2"]),
            "12:5: duplicate key 'region' in one mapping", rule: "duplicate-key")
    }

    @Test func unknownKeySuggestsTheClosest() {
        expectSingleError(
            Fixture.validate(appending: ["    labls: {a: b}"]),
            "23:5: unknown key 'labls' in clusters[0]; did you mean 'labels'?", rule: "unknown-key")
    }

    @Test func unknownKeyWithoutCloseMatch() {
        expectSingleError(
            Fixture.validate(appending: ["    colour: blue"]), "23:5: unknown key 'colour' in clusters[0]",
            rule: "unknown-key",
            hint: "known keys here: name, account, region, eksCluster, kubeconfig, repository, path, labels, flux")
    }

    @Test func typeErrorsHavePositions() {
        expectSingleError(
            Fixture.validate(appending: ["    labels: [a, b]"]),
            "23:13: clusters[0].labels must be a mapping, found a list", rule: "type")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {parallelism: many}"]),
            "8:26: inventory.defaults.rollout.parallelism must be a whole number, found 'many'", rule: "type")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n    networkPolicy: perhaps"]),
            "8:20: inventory.defaults.flux.networkPolicy must be true or false, found 'perhaps'", rule: "type")
    }

    @Test func apiVersionAndKind() {
        expectSingleError(
            Fixture.validate(replacing: [1: "apiVersion: fleetstrap.io/v2"]),
            "1:13: unsupported apiVersion 'fleetstrap.io/v2'; this fleetstrap reads 'fleetstrap.io/v1'",
            rule: "api-version")
        expectSingleError(
            Fixture.validate(replacing: [2: "kind: Inventory"]), "2:7: kind must be 'Fleet', found 'Inventory'",
            rule: "kind")
        expectSingleError(
            Fixture.validate(replacing: [1: "# no apiVersion"]),
            "2:1: inventory is missing required key 'apiVersion'", rule: "required")
    }

    // MARK: Names and references

    @Test func duplicateNames() {
        expectSingleError(
            Fixture.validate(appending: ["  - name: one"]), "23:11: duplicate cluster name 'one'",
            rule: "duplicate-name", hint: "first defined at fleet.yaml:22:11; cluster names must be unique")
    }

    @Test func unknownReferences() {
        expectSingleError(
            Fixture.validate(appending: ["    repository: flet"]),
            "23:17: cluster 'one' refers to unknown repository 'flet'; did you mean 'fleet'?",
            rule: "unknown-reference", hint: "defined: fleet")
        expectSingleError(
            Fixture.validate(replacing: [16: "    identity: flx"]),
            "16:15: repository 'fleet' refers to unknown identity 'flx'; did you mean 'flux'?",
            rule: "unknown-reference")
        expectSingleError(
            Fixture.validate(replacing: [19: "    account: mian"]),
            "19:14: identity 'flux' refers to unknown account 'mian'; did you mean 'main'?",
            rule: "unknown-reference")
    }

    // MARK: Accounts

    @Test func accountID() {
        expectSingleError(
            Fixture.validate(replacing: [10: "    id: 12345"]),
            "10:9: account 'main': id '12345' is not a 12-digit AWS account id", rule: "account-id")
        #expect(Fixture.validate(replacing: [10: "    id: \"012345678901\"", 11: ""]).isValid)
    }

    @Test func roleARN() {
        expectSingleError(
            Fixture.validate(replacing: [11: "    roleArn: arn:aws:iam::123456789012:user/x"]),
            "11:14: account 'main': roleArn 'arn:aws:iam::123456789012:user/x' is not an IAM role ARN",
            rule: "role-arn")
        expectSingleError(
            Fixture.validate(replacing: [11: "    roleArn: arn:aws:iam::999999999999:role/x"]),
            "11:14: account 'main': roleArn is in account 999999999999, but the account's id is 123456789012",
            rule: "role-arn-account")
        #expect(
            Fixture.validate(replacing: [11: "    roleArn: arn:aws-cn:iam::123456789012:role/ops/fleetstrap"]).isValid)
    }

    @Test func assumeRoleParameters() {
        expectSingleError(
            Fixture.validate(replacing: [11: "    sessionName: a"]),
            "11:18: account 'main': sessionName must be 2 to 64 characters of letters, digits and +=,.@_-",
            rule: "session-name")
        expectSingleError(
            Fixture.validate(replacing: [11: "    externalId: \"has space\""]),
            "11:17: account 'main': externalId must be 2 to 1224 characters of letters, digits and +=,.@:/-",
            rule: "external-id")
        expectSingleError(
            Fixture.validate(replacing: [11: "    durationSeconds: 60"]),
            "11:22: accounts[0].durationSeconds must be between 900 and 43200, found 60", rule: "range")
    }

    @Test func region() {
        expectSingleError(
            Fixture.validate(appending: ["    region: mars-1"]),
            "23:13: clusters[0].region 'mars-1' is not an AWS region", rule: "region")
    }

    @Test func regionMissing() {
        let result = Fixture.validate(replacing: [12: ""])
        #expect(
            result.errors.map(\.description) == [
                "fleet.yaml:14:5: error: repository 'fleet' has no region\n    hint: set region here, on its account, "
                    + "or in defaults",
                "fleet.yaml:22:5: error: cluster 'one' has no region\n    hint: set region here, on its account, or "
                    + "in defaults",
            ])
    }

    // MARK: Repositories and CodeCommit URLs

    @Test func scpLikeURLIsRefusedWithTheURLToUse() {
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: git-codecommit.eu-west-1.amazonaws.com:v1/repos/fleet"]),
            "15:10: repository 'fleet': scp-like URLs (host:path) are not supported by Flux", rule: "scp-url",
            hint: "write url: ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        expectSingleError(
            Fixture.validate(replacing: [
                15: "    url: APKAEIBAERJR2EXAMPLE@git-codecommit.eu-west-1.amazonaws.com:v1/repos/fleet"
            ]),
            "15:10: repository 'fleet': scp-like URLs (host:path) are not supported by Flux", rule: "scp-url",
            hint: "write url: ssh://APKAEIBAERJR2EXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
    }

    @Test func sshUserMustBeAKeyID() {
        let hint =
            "leave the user out (url: ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet) and fleetstrap "
            + "uses the identity's active key id"
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: ssh://git@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"]
            ),
            "15:10: repository 'fleet': 'git' is GitHub's SSH user; CodeCommit expects the SSHPublicKeyId of an IAM "
                + "user's SSH key",
            rule: "ssh-user", hint: hint)
        expectSingleError(
            Fixture.validate(replacing: [
                15: "    url: ssh://flux@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"
            ]),
            "15:10: repository 'fleet': 'flux' is the IAM user name; CodeCommit expects the SSHPublicKeyId of its SSH "
                + "key, not the user name",
            rule: "ssh-user", hint: hint)
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: ssh://bob@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"]
            ),
            "15:10: repository 'fleet': 'bob' does not look like an SSH key id; CodeCommit expects the SSHPublicKeyId "
                + "(APKA…) of an IAM user's SSH key",
            rule: "ssh-user", hint: hint)
    }

    @Test func sshURLWithKeyIDIsAccepted() throws {
        let result = Fixture.validate(
            replacing: [15: "    url: ssh://APKAEIBAERJR2EXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"]
        )
        let repository = try #require(result.inventory?.repository(named: "fleet"))
        #expect(repository.pinnedKeyID == "APKAEIBAERJR2EXAMPLE")
        #expect(repository.codecommitName == "fleet")
        #expect(repository.region == "eu-west-1")
    }

    @Test func vpcEndpointURLGivesTheRegion() throws {
        let host = "vpce-0123456789abcdef0-abcdefgh.git-codecommit.us-east-2.vpce.amazonaws.com"
        let result = Fixture.validate(replacing: [15: "    url: ssh://\(host)/v1/repos/fleet"])
        let repository = try #require(result.inventory?.repository(named: "fleet"))
        #expect(repository.region == "us-east-2")
        #expect(repository.host == host)
    }

    @Test func urlShapes() {
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: ssh://github.com/v1/repos/fleet"]),
            "15:10: repository 'fleet': 'github.com' is not a CodeCommit host", rule: "codecommit-host")
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: ssh://git-codecommit.eu-west-1.amazonaws.com/org/fleet.git"]),
            "15:10: repository 'fleet': url path '/org/fleet.git' is not a CodeCommit repository path", rule: "url")
        expectSingleError(
            Fixture.validate(replacing: [15: "    url: ftp://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"]),
            "15:10: repository 'fleet': url scheme 'ftp' is not supported", rule: "url")
        expectSingleError(
            Fixture.validate(replacing: [
                15: "    url: https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet\n    transport: ssh"
            ]),
            "16:16: repository 'fleet': transport is ssh but the url is https://", rule: "transport-url")
        expectSingleError(
            Fixture.validate(replacing: [
                15: "    url: ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet\n    region: us-east-1"
            ]),
            "16:13: repository 'fleet': region is us-east-1 but the url's host is in eu-west-1", rule: "region-url")
        expectSingleError(
            Fixture.validate(replacing: [15: "    codecommit: fleet.git"]),
            "15:17: repository 'fleet': 'fleet.git' is not a CodeCommit repository name", rule: "codecommit-name")
    }

    @Test func repositorySource() {
        expectSingleError(
            Fixture.validate(replacing: [15: "    branch: main"]),
            "14:5: repository 'fleet' needs codecommit (the repository name) or url", rule: "repository-source")
        expectSingleError(
            Fixture.validate(replacing: [
                15: "    codecommit: fleet\n    url: ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet"
            ]),
            "16:10: repository 'fleet' sets both codecommit and url; keep one", rule: "repository-source")
    }

    @Test func endpointOverride() throws {
        let result = Fixture.validate(replacing: [15: "    codecommit: fleet\n    endpoint: 127.0.0.1:2222"])
        let repository = try #require(result.inventory?.repository(named: "fleet"))
        #expect(repository.url() == "ssh://127.0.0.1:2222/v1/repos/fleet")
        expectSingleError(
            Fixture.validate(replacing: [15: "    codecommit: fleet\n    endpoint: \"not a host\""]),
            "16:15: repository 'fleet': endpoint 'not a host' is not a host[:port]", rule: "endpoint")
    }

    @Test func transportAndBranch() {
        expectSingleError(
            Fixture.validate(replacing: [15: "    codecommit: fleet\n    transport: sssh"]),
            "16:16: repository 'fleet': unknown transport 'sssh'; did you mean 'ssh'?", rule: "transport")
        expectSingleError(
            Fixture.validate(replacing: [15: "    codecommit: fleet\n    branch: \"bad..branch\""]),
            "16:13: repository 'fleet': 'bad..branch' is not a Git branch name: it holds '..'", rule: "branch",
            hint: "git check-ref-format --branch NAME tells whether git accepts a name, e.g. main or release/2024-06")
        for (branch, problem) in [
            ("a.lock/b", "a component ends with '.lock'"), ("HEAD", "HEAD is not a branch name"),
            ("a/.hidden", "a component starts with '.'"), ("-x", "it starts with '-'"),
        ] {
            expectSingleError(
                Fixture.validate(replacing: [15: "    codecommit: fleet\n    branch: \"\(branch)\""]),
                "16:13: repository 'fleet': '\(branch)' is not a Git branch name: \(problem)", rule: "branch")
        }
        // Names YAML would read as other things are branches all the same: quoted, they are strings.
        for branch in ["true", "yes", "on", "null", "1.0", "0x1F", "#x", "2024-06-01", "@"] {
            let result = Fixture.validate(replacing: [15: "    codecommit: fleet\n    branch: '\(branch)'"])
            #expect(result.errors.isEmpty, "\(branch): \(result.errors)")
            #expect(result.inventory?.repository(named: "fleet")?.branch == branch)
        }
    }

    @Test func pathsGitAndTerminalsCannotTakeAreRefused() {
        let cases: [(yaml: String, shown: String, problem: String)] = [
            ("\"clusters/a\\0b\"", "clusters/a\\u{0000}b", "holds a NUL character"),
            ("\"clusters/a\\tb\"", "clusters/a\\u{0009}b", "holds a control character (U+0009)"),
            ("\"clusters/a\\nprune: false\"", "clusters/a\\u{000A}prune: false", "holds a control character (U+000A)"),
            ("'clusters\\one'", "clusters\\one", "holds a backslash; folders are separated by '/'"),
            ("clusters/.git/one", "clusters/.git/one", "has a '.git' component, which git refuses to write"),
            ("clusters/.GIT", "clusters/.GIT", "has a '.git' component, which git refuses to write"),
            ("-clusters/one", "-clusters/one", "starts with '-', which git and kubectl read as an option"),
            (
                "clusters/-one", "clusters/-one",
                "has a component starting with '-', which git and kubectl read as an option"
            ),
            (
                "\"clusters/evil\\u202Eexe\"", "clusters/evil\\u{202E}exe",
                "holds the bidirectional control U+202E, which makes a terminal show another name"
            ),
        ]
        for (yaml, shown, problem) in cases {
            expectSingleError(
                Fixture.validate(appending: ["    path: \(yaml)"]), "23:11: cluster 'one': path '\(shown)' \(problem)",
                rule: "path",
                hint:
                    "a folder of letters, digits, spaces and punctuation, relative to the repository root, e.g. "
                    + "clusters/prod-eu-1"
            )
        }
        for path in ["clusters/with space", "clusters/#hash", "clusters/été/東京", "clusters/a: b"] {
            let result = Fixture.validate(appending: ["    path: '\(path)'"])
            #expect(result.errors.isEmpty, "\(path): \(result.errors)")
            #expect(result.inventory?.cluster(named: "one")?.path == path)
        }
    }

    @Test func sshNeedsAnIdentityInTheRepositorysAccount() {
        expectSingleError(
            Fixture.validate(replacing: [16: "    branch: main"]),
            "14:5: repository 'fleet' uses SSH and needs an identity", rule: "identity-required")
        expectSingleError(
            Fixture.validate(replacing: [
                12: "    region: eu-west-1\n  - name: other\n    id: \"210987654321\"", 19: "    account: other",
            ]),
            "18:15: repository 'fleet' is in account 'main' but identity 'flux' is an IAM user of account 'other'",
            rule: "identity-account",
            hint: "CodeCommit accepts SSH keys only of IAM users in the repository's own account")
    }

    @Test func httpsWithIAMMustNotSetCredentials() {
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.9.0", 16: "    transport: https\n    username: bob"]),
            "17:15: repository 'fleet' uses HTTPS with IAM credentials and must not set username",
            rule: "https-credentials")
        expectSingleError(
            Fixture.validate(replacing: [
                7: "    version: 2.9.0",
                15: "    url: https://bob@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet",
                16: "",
            ]),
            "15:10: repository 'fleet': https url must not carry a user name ('bob')", rule: "https-credentials")
        #expect(Fixture.validate(replacing: [7: "    version: 2.9.0", 16: "    transport: https"]).isValid)
    }

    @Test func httpsWithIAMNeedsFlux29() {
        expectSingleError(
            Fixture.validate(replacing: [16: "    transport: https"]),
            "7:14: cluster 'one' uses repository 'fleet' over HTTPS with IAM, which needs Flux 2.9.0 or later "
                + "(provider: aws); this is v2.4.0",
            rule: "flux-https-provider")
    }

    @Test func httpsTokenNeedsBothCredentials() throws {
        expectSingleError(
            Fixture.validate(replacing: [16: "    transport: https-token\n    username: u"]),
            "14:5: repository 'fleet' uses https-token and needs password", rule: "https-token-credentials")
        expectSingleError(
            Fixture.validate(replacing: [16: "    transport: https-token\n    password: {env: P}"]),
            "14:5: repository 'fleet' uses https-token and needs username", rule: "https-token-credentials")
        let ok = Fixture.validate(replacing: [
            16: "    transport: https-token\n    username: u\n    password: {file: /run/p}"
        ])
        let repository = try #require(ok.inventory?.repository(named: "fleet"))
        #expect(repository.password == .file("/run/p"))
        #expect(repository.url() == "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        expectSingleError(
            Fixture.validate(replacing: [
                16: "    transport: https-token\n    identity: flux\n    username: u\n    password: {env: P}"
            ]),
            "17:15: repository 'fleet' uses https-token; identity is for SSH repositories only",
            rule: "identity-not-allowed")
    }

    @Test func inlineSecretsAreRefusedWithoutEchoingThem() {
        let result = Fixture.validate(replacing: [20: "    passphrase: hunter2"])
        expectSingleError(
            result, "20:17: identity 'flux': passphrase must not be written in the inventory", rule: "inline-secret",
            hint: "name where it comes from instead: {env: VARIABLE} or {file: /path/to/file}")
        #expect(!result.diagnostics.description.contains("hunter2"))
        let password = Fixture.validate(replacing: [
            16: "    transport: https-token\n    username: u\n    password: s3cr3t"
        ])
        expectSingleError(
            password, "18:15: repository 'fleet': password must not be written in the inventory", rule: "inline-secret")
        #expect(!password.diagnostics.description.contains("s3cr3t"))
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: 1BAD}"]),
            "20:23: identity 'flux': passphrase: '1BAD' is not an environment variable name", rule: "secret-reference")
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: A, file: /b}"]),
            "20:17: identity 'flux': passphrase needs exactly one of env or file", rule: "secret-reference")
        expectSingleError(
            Fixture.validate(replacing: [20: ""]), "18:5: identities[0] is missing required key 'passphrase'",
            rule: "required")
    }

    // MARK: Identities

    @Test func identityKeys() {
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: PASS}\n    keyAlgorithm: ed25519"]),
            "21:19: identity 'flux': keyAlgorithm 'ed25519' cannot be used with CodeCommit", rule: "key-algorithm",
            hint: "IAM accepts only RSA SSH keys for CodeCommit (ECDSA and Ed25519 are refused); use keyAlgorithm: rsa")
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: PASS}\n    keyBits: 1024"]),
            "21:14: identity 'flux': keyBits must be from 2048 (IAM's minimum) to 16384, found 1024", rule: "key-bits")
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: PASS}\n    maxKeyAge: 90 days"]),
            "21:16: identity 'flux': maxKeyAge '90 days' is not a duration", rule: "duration")
        expectSingleError(
            Fixture.validate(replacing: [20: "    passphrase: {env: PASS}\n    iamUser: \"flux user\""]),
            "21:14: identity 'flux': 'flux user' is not an IAM user name", rule: "iam-user")
    }

    // MARK: Clusters

    @Test func clusterPaths() throws {
        expectSingleError(
            Fixture.validate(appending: ["    path: /clusters/one"]),
            "23:11: cluster 'one': path '/clusters/one' is absolute", rule: "path")
        expectSingleError(
            Fixture.validate(appending: ["    path: clusters/../../etc"]),
            "23:11: cluster 'one': path 'clusters/../../etc' leaves the repository with '..'", rule: "path")
        expectSingleError(
            Fixture.validate(appending: ["    path: ./"]),
            "23:11: cluster 'one': path './' must name a directory below the repository root", rule: "path")
        let ok = Fixture.validate(appending: ["    path: ./clusters/eu/one/"])
        #expect(ok.inventory?.cluster(named: "one")?.path == "clusters/eu/one")
    }

    @Test func clustersMayNotShareOrNestDirectories() {
        expectSingleError(
            Fixture.validate(appending: ["    path: clusters/a", "  - name: two", "    path: clusters/a/b"]),
            "25:11: cluster 'two' and cluster 'one' (fleet.yaml:23:11) share 'clusters/a' in repository 'fleet'",
            rule: "path-conflict")
        // Nested the other way, a sibling with a shared prefix (no conflict), and every earlier claim reported in
        // order.
        expectSingleError(
            Fixture.validate(appending: ["    path: clusters/a/b", "  - name: two", "    path: clusters/a"]),
            "25:11: cluster 'two' and cluster 'one' (fleet.yaml:23:11) share 'clusters/a/b' in repository 'fleet'",
            rule: "path-conflict")
        #expect(
            Fixture.validate(appending: ["    path: clusters/a", "  - name: two", "    path: clusters/ab"]).errors
                .isEmpty)
        let many = Fixture.validate(appending: [
            "    path: x/y/z", "  - name: two", "    path: x/w", "  - name: three", "    path: x/y", "  - name: four",
            "    path: x",
        ])
        #expect(
            many.errors.map(\.message) == [
                "cluster 'three' and cluster 'one' (fleet.yaml:23:11) share 'x/y/z' in repository 'fleet'",
                "cluster 'four' and cluster 'one' (fleet.yaml:23:11) share 'x/y/z' in repository 'fleet'",
                "cluster 'four' and cluster 'two' (fleet.yaml:25:11) share 'x/w' in repository 'fleet'",
                "cluster 'four' and cluster 'three' (fleet.yaml:27:11) share 'x/y' in repository 'fleet'",
            ])
    }

    @Test func clusterAccess() throws {
        expectSingleError(
            Fixture.validate(appending: ["    eksCluster: x", "    kubeconfig: {context: c}"]),
            "23:17: cluster 'one' sets both eksCluster and kubeconfig; keep one", rule: "access")
        expectSingleError(
            Fixture.validate(appending: ["    eksCluster: -bad"]),
            "23:17: cluster 'one': '-bad' is not an EKS cluster name", rule: "eks-cluster-name")
        let kube = Fixture.validate(appending: ["    kubeconfig: {context: kind-one, path: /tmp/kc}"])
        #expect(kube.inventory?.cluster(named: "one")?.access == .kubeconfig(context: "kind-one", path: "/tmp/kc"))
    }

    @Test func labels() throws {
        expectSingleError(
            Fixture.validate(appending: ["    labels: {env: \"bad value!\"}"]),
            "23:19: clusters[0].labels.env: 'bad value!' is not a valid label value", rule: "label")
        expectSingleError(
            Fixture.validate(appending: ["    labels: {\"bad key!\": x}"]),
            "23:26: clusters[0].labels: 'bad key!' is not a valid label key", rule: "label")
        let merged = Fixture.validate(
            replacing: [5: "  repository: fleet\n  labels: {team: platform, env: dev}"],
            appending: ["    labels: {env: prod}"])
        #expect(merged.inventory?.cluster(named: "one")?.labels == ["team": "platform", "env": "prod"])
    }

    // MARK: Flux

    @Test func fluxVersion() {
        expectSingleError(
            Fixture.validate(appending: ["    flux: {version: two}"]),
            "23:21: clusters[0].flux.version 'two' is not a Flux release version", rule: "flux-version")
        expectSingleError(
            Fixture.validate(replacing: [7: "    networkPolicy: true"]), "22:5: cluster 'one' has no Flux version",
            rule: "flux-version-missing")
    }

    @Test func fluxComponents() throws {
        expectSingleError(
            Fixture.validate(appending: [
                "    flux: {components: [source-controller, kustomize-controller, helmcontroller]}"
            ]),
            "23:66: unknown Flux component 'helmcontroller' in clusters[0].flux.components; did you mean "
                + "'helm-controller'?",
            rule: "flux-component")
        expectSingleError(
            Fixture.validate(appending: ["    flux: {components: [source-controller]}"]),
            "23:24: clusters[0].flux.components must include kustomize-controller", rule: "flux-required-component")
        let extra = Fixture.validate(appending: ["    flux: {componentsExtra: [image-reflector-controller]}"])
        let flux = try #require(extra.inventory?.cluster(named: "one")?.flux)
        #expect(flux.allComponents == FluxSettings.defaultComponents + ["image-reflector-controller"])
        #expect(flux.version == SemanticVersion(2, 4, 0))
    }

    @Test func fluxOptions() throws {
        let base = "    version: 2.4.0\n"
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    manifests: {path: ./flux, sha256: abc}"]),
            "8:39: inventory.defaults.flux.manifests.sha256 must be 64 hexadecimal digits", rule: "sha256")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    manifests: {sha256: \(String(repeating: "a", count: 64))}"]),
            "8:16: inventory.defaults.flux.manifests needs exactly one of url or path", rule: "manifests-source")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    registry: https://ecr.example/flux/"]),
            "8:15: inventory.defaults.flux.registry 'https://ecr.example/flux/' must be a registry host and path, "
                + "without scheme or trailing slash",
            rule: "registry")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    imagePullSecret: Bad_Name"]),
            "8:22: inventory.defaults.flux.imagePullSecret 'Bad_Name' is not a valid Secret name",
            rule: "kubernetes-name")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    serviceAccountRoles: {sourceController: arn:aws:iam::1:role/x}"]
            ),
            "8:45: inventory.defaults.flux.serviceAccountRoles.sourceController 'arn:aws:iam::1:role/x' is not an IAM "
                + "role ARN",
            rule: "role-arn")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    sops: {kmsKeyArn: alias/flux}"]),
            "8:23: inventory.defaults.flux.sops.kmsKeyArn 'alias/flux' is not a KMS key ARN", rule: "kms-arn")
        expectSingleError(
            Fixture.validate(replacing: [7: base + "    patches: [{patch: \"a: [b\"}]"]),
            "8:23: inventory.defaults.flux.patches[0].patch is not valid YAML", rule: "patch")
        let full = Fixture.validate(replacing: [
            7: base + """
                    registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/fluxcd
                    imagePullSecret: ecr-pull
                    networkPolicy: false
                    tolerationKeys: [node.kubernetes.io/not-ready]
                    serviceAccountRoles:
                      sourceController: arn:aws:iam::123456789012:role/flux-source
                      kustomizeController: arn:aws:iam::123456789012:role/flux-kustomize
                    sops: {kmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab}
                    patches:
                      - target: {kind: Deployment, name: source-controller}
                        patch: |
                          - op: add
                            path: /spec/template/spec/priorityClassName
                            value: system-cluster-critical
                """
        ])
        let flux = try #require(full.inventory?.cluster(named: "one")?.flux, "\(full.diagnostics)")
        #expect(flux.registry == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fluxcd")
        #expect(!flux.networkPolicy)
        #expect(flux.serviceAccountRoles["kustomize-controller"] == "arn:aws:iam::123456789012:role/flux-kustomize")
        #expect(flux.patches.first?.target == ["kind": "Deployment", "name": "source-controller"])
        #expect(flux.sopsKMSKeyARN?.hasSuffix("1234567890ab") == true)
    }

    @Test func clusterFluxOverridesDefaultsFieldByField() throws {
        let result = Fixture.validate(
            replacing: [7: "    version: 2.4.0\n    registry: mirror.example/flux"],
            appending: ["    flux: {version: 2.5.1, networkPolicy: false}"])
        let flux = try #require(result.inventory?.cluster(named: "one")?.flux)
        #expect(flux.version == SemanticVersion(2, 5, 1))
        #expect(flux.registry == "mirror.example/flux")
        #expect(!flux.networkPolicy)
    }

    // MARK: Rollout

    @Test func rollout() throws {
        let ok = Fixture.validate(replacing: [
            7:
                "    version: 2.4.0\n  rollout: {parallelism: 25, waves: [1, 10%, 50%], maxFailures: 5%, "
                + "clusterTimeout: 15m}"
        ])
        let rollout = try #require(ok.inventory?.rollout)
        #expect(rollout.parallelism == 25)
        #expect(rollout.waves == [.count(1), .percent(10), .percent(50), .percent(100)])
        #expect(rollout.maxFailures == .percent(5))
        #expect(rollout.clusterTimeout == .seconds(900))
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {waves: [50%, 10%]}"]),
            "8:26: inventory.defaults.rollout.waves[1] must be above 0% and at most 100%, and larger than the wave "
                + "before it",
            rule: "wave")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {waves: [one]}"]),
            "8:21: inventory.defaults.rollout.waves[0] must be a cluster count or a percentage, found 'one'",
            rule: "wave")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {maxFailures: lots}"]),
            "8:26: inventory.defaults.rollout.maxFailures must be a count (0 or more) or a percentage up to 100%, "
                + "found 'lots'",
            rule: "max-failures")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {parallelism: 0}"]),
            "8:26: inventory.defaults.rollout.parallelism must be between 1 and 10000, found 0", rule: "range")
    }

    @Test func rateLimits() throws {
        let ok = Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {rateLimits: {sts: 20, iam: 2.5}}"])
        #expect(ok.inventory?.rollout.rateLimits == ["sts": 20, "iam": 2.5])
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {rateLimits: {eks: -1}}"]),
            "8:31: inventory.defaults.rollout.rateLimits.eks must be a number of requests a second above 0, found '-1'",
            rule: "rate-limit")
        expectSingleError(
            Fixture.validate(replacing: [7: "    version: 2.4.0\n  rollout: {rateLimits: {s3: 1}}"]),
            "8:26: unknown key 's3' in inventory.defaults.rollout.rateLimits", rule: "unknown-key")
    }

    @Test func waveSizesCountClusters() {
        #expect(Rollout.Size.percent(10).count(of: 30) == 3)
        #expect(Rollout.Size.percent(1).count(of: 10) == 1)
        #expect(Rollout.Size.count(5).count(of: 3) == 3)
    }

    // MARK: Whole-file checks

    @Test func manyProblemsAreReportedInOnePass() {
        let result = Fixture.validate(
            replacing: [10: "    id: 12", 16: "    identity: nobody", 20: "    passphrase: inline"],
            appending: ["    region: nowhere", "    colour: red"])
        #expect(
            Set(result.errors.map(\.rule)) == [
                "account-id", "unknown-reference", "inline-secret", "region", "unknown-key",
            ])
        #expect(result.errors.map(\.location.line) == result.errors.map(\.location.line).sorted())
    }

    @Test func unusedEntriesAreWarnings() throws {
        let result = Fixture.validate(appending: [
            "repositories2: x"
        ])
        #expect(result.errors.first?.rule == "unknown-key")
        let warned = InventoryLoader.validate(
            yaml: Fixture.yaml(replacing: [
                16: "    identity: flux\n  - name: spare\n    codecommit: spare\n    identity: flux"
            ]),
            name: "fleet.yaml")
        #expect(warned.isValid)
        #expect(
            warned.warnings.map(\.description) == [
                "fleet.yaml:17:5: warning: repository 'spare' is not used by any cluster"
            ])
    }
}
