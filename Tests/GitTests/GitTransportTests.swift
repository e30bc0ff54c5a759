// libgit2 against the lab's CodeCommit Git endpoints: HTTPS with a fresh SigV4 Git password and the lab's CA
// checked by OpenSSL; SSH with an in-memory RSA key, the key id as user, and the host key pinned. Each way to be
// wrong (CA, password, passphrase, key id, inactive key, changed host key) fails with its own error. And the fleet
// case: 300 clusters in 3 repositories written at once while a rival pushes to the same branches.
import AWS
import FleetCrypto
import FleetLab
import FleetSupport
import Foundation
import Git
import LabSupport
import TestSupport
import Testing

extension Tag {
    @Tag static var integration: Self
}

@Suite("Git: transports and the fleet race against the lab", .serialized)
struct GitTransportTests {
    static let sshReason: Comment =
        "Git over SSH in the lab runs sshd, which needs root and openssh-server (CI has both)"
    static var sshAvailable: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    static func config(repositories: [String] = ["fleet-prod"]) -> LabConfig {
        var config = LabFixture.config
        config.repositories =
            repositories.map { .init(name: $0, account: "prod", region: "eu-west-1") }
            + [.init(name: "fleet-dev", account: "dev", region: "us-east-1")]
        return config
    }

    func labCA(_ fixture: LabFixture) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle)))
    }

    func bare(_ fixture: LabFixture, _ repository: String) -> String {
        "\(fixture.lab.info.repositoriesRoot)/111111111111/\(repository).git"
    }

    func https(
        _ fixture: LabFixture, _ repository: String = "fleet-prod", credentials: any CredentialProvider,
        ca: [UInt8]? = nil
    ) throws -> GitRemote {
        GitRemote(
            url: "\(fixture.lab.info.endpoint)/v1/repos/\(repository)",
            authentication: .codeCommitIAM(credentials: credentials, region: "eu-west-1"),
            trust: GitTrust(caPEM: try ca ?? labCA(fixture)))
    }

    func writer(_ fixture: LabFixture, _ remote: GitRemote) throws -> RepositoryWriter {
        try RepositoryWriter(
            remote: remote, localPath: fixture.directory.appendingPathComponent("mirror-\(UUID().uuidString).git").path)
    }

    func write(_ writer: RepositoryWriter, _ cluster: String = "prod-a") async throws -> RepositoryWriter.Receipt {
        try await writer.submit(
            cluster: cluster, directory: "clusters/\(cluster)",
            changes: [.write("clusters/\(cluster)/flux-system/gotk-sync.yaml", "name: \(cluster)\n")],
            message: "Add Flux sync manifests")
    }

    @Test func httpsWithAFreshGitPasswordAndTheLabsCA() async throws {
        try await withLab(ssh: false, config: Self.config()) { fixture in
            let prod = try await fixture.session("prod", client: try fixture.client())
            let receipt = try await write(try writer(fixture, try https(fixture, credentials: prod)))
            #expect(receipt.changed)
            // The password goes with the first request of the fetch and of the push: no 401 round trip first.
            #expect(fixture.lab.counters().operations["git:challenge"] == nil)
            #expect((fixture.lab.counters().operations["git:git-receive-pack"] ?? 0) >= 2)
            #expect(
                try await GitCLI.output(["-C", bare(fixture, "fleet-prod"), "rev-parse", "main"]) == receipt.commit.hex)
            #expect(
                try await GitCLI.output([
                    "-C", bare(fixture, "fleet-prod"), "show", "main:clusters/prod-a/flux-system/gotk-sync.yaml",
                ]) == "name: prod-a")

            // Another CA (a cluster's) does not vouch for the lab's Git endpoint.
            let otherCA = try await fixture.connect().ca
            await #expect {
                _ = try await write(try writer(fixture, try https(fixture, credentials: prod, ca: otherCA)))
            } throws: { error in
                (error as? GitError)?.kind == .serverIdentity && "\(error)".contains("certificate verification failed")
            }
            // A password not signed by the caller's secret.
            let forged = GitRemote(
                url: "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod",
                authentication: .basic(
                    username: fixture.lab.info.accessKeyId,
                    password: Secret("20261122T000000Z" + String(repeating: "0", count: 64))),
                trust: GitTrust(caPEM: try labCA(fixture)))
            await #expect { _ = try await write(try writer(fixture, forged)) } throws: { error in
                (error as? GitError)?.kind == .authentication
                    && "\(error)".contains("refused the password of \(fixture.lab.info.accessKeyId)")
            }
        }
    }

    @Test(.enabled(if: sshAvailable, sshReason))
    func sshWithAnInMemoryKeyAndAPinnedHostKey() async throws {
        try await withLab(ssh: true, config: Self.config()) { fixture in
            let client = try fixture.client()
            let prod = try await fixture.session("prod", client: client)
            let iam = IAMClient(client: client)
            let key = try RSAPrivateKey.generate(bits: 2048)
            let uploaded = try await iam.uploadSSHPublicKey(
                userName: "flux-prod", publicKey: key.publicKey.openSSH, credentials: prod)
            let port = try #require(fixture.lab.info.sshPort)
            let pem = try key.pem(passphrase: Secret("s3cret"))
            func remote(
                keyID: String = uploaded.keyID, passphrase: String = "s3cret", pins: HostKeyPins = HostKeyPins()
            )
                -> GitRemote
            {
                GitRemote(
                    url: "ssh://\(keyID)@127.0.0.1:\(port)/v1/repos/fleet-prod",
                    authentication: .sshKey(privateKeyPEM: pem, passphrase: Secret(passphrase)),
                    trust: GitTrust(hostKeys: pins))
            }
            let pins = HostKeyPins()
            let receipt = try await write(try writer(fixture, remote(pins: pins)))
            #expect(
                try await GitCLI.output(["-C", bare(fixture, "fleet-prod"), "rev-parse", "main"]) == receipt.commit.hex)
            #expect(
                pins.knownHostsLine(host: "127.0.0.1", port: port) == fixture.lab.info.sshKnownHosts,
                "the host key was captured as a known_hosts line")

            await #expect { _ = try await write(try writer(fixture, remote(passphrase: "wrong"))) } throws: { error in
                (error as? GitError)?.kind == .authentication && "\(error)".contains("passphrase")
            }
            await #expect { _ = try await write(try writer(fixture, remote(keyID: "APKAAAAAAAAAAAAAAAAA"))) } throws: {
                error in
                (error as? GitError)?.kind == .authentication && "\(error)".contains("key id APKAAAAAAAAAAAAAAAAA")
            }
            let changed = HostKeyPins(
                knownHosts:
                    """
                    [127.0.0.1]:\(port) ssh-ed25519 \
                    AAAAC3NzaC1lZDI1NTE5AAAAIDC5zP3Rt5d8wV6vCA8hZ5B2uV6F4nJ+oWbHrJ1bJ8mG\n
                    """
            )
            await #expect { _ = try await write(try writer(fixture, remote(pins: changed))) } throws: { error in
                let text = "\(error)"
                return (error as? GitError)?.kind == .serverIdentity && text.contains("changed: pinned SHA256:")
                    && text.contains("presented SHA256:")
            }
            try await iam.updateSSHPublicKey(
                userName: "flux-prod", keyID: uploaded.keyID, status: .inactive, credentials: prod)
            await #expect { _ = try await write(try writer(fixture, remote(pins: pins))) } throws: { error in
                (error as? GitError)?.kind == .authentication && "\(error)".contains("Active in IAM")
            }
        }
    }

    @Test(.tags(.integration))
    func threeHundredClustersInThreeRepositoriesWhileARivalPushes() async throws {
        let repositories = ["fleet-a", "fleet-b", "fleet-c"]
        try await withLab(ssh: false, config: Self.config(repositories: repositories)) { fixture in
            let prod = try await fixture.session("prod", client: try fixture.client())
            // Each repository starts with a commit, and the rival races the writers' first pushes as well as pushing
            // at random moments while they write.
            for repository in repositories {
                try await fixture.lab.rivalPush(account: "prod", repository: repository, branch: "main")
            }
            try await fixture.lab.setFaults(
                LabFaults(rivalPushes: repositories.map { .init(repository: $0, account: "prod", pushes: 2) }))
            var writers: [String: RepositoryWriter] = [:]
            for repository in repositories {
                writers[repository] = try writer(fixture, try https(fixture, repository, credentials: prod))
            }
            let clusters = (0..<300).map { (name: String(format: "prod-%03d", $0), repository: repositories[$0 % 3]) }
            func submitAll() async throws -> [RepositoryWriter.Receipt] {
                try await withThrowingTaskGroup(of: RepositoryWriter.Receipt.self) { group in
                    for cluster in clusters {
                        let writer = writers[cluster.repository]!
                        group.addTask {
                            try await writer.submit(
                                cluster: cluster.name, directory: "clusters/\(cluster.name)",
                                changes: [
                                    .write(
                                        "clusters/\(cluster.name)/flux-system/gotk-components.yaml",
                                        "# Flux v2.4.0 components\n"),
                                    .write(
                                        "clusters/\(cluster.name)/flux-system/gotk-sync.yaml", "name: \(cluster.name)\n"
                                    ),
                                ], message: "Add Flux v2.4.0 component manifests")
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let rival = Task {
                var pushed = 0
                while !Task.isCancelled {
                    _ = try? await fixture.lab.rivalPush(
                        account: "prod", repository: repositories[pushed % 3], branch: "main")
                    pushed += 1
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            let first = try await submitAll()
            rival.cancel()
            _ = await rival.value
            #expect(first.count == 300 && first.allSatisfy { $0.changed })

            var report: [String] = []
            for repository in repositories {
                let path = bare(fixture, repository)
                let merges = try await GitCLI.output(["-C", path, "rev-list", "--min-parents=2", "main"])
                #expect(merges.isEmpty, "linear history in \(repository)")
                let rivalCommits = try await GitCLI.output(["-C", path, "log", "--author=rival", "--format=%H", "main"])
                    .split(separator: "\n").count
                let rivalFiles = try await GitCLI.output(["-C", path, "ls-tree", "-r", "--name-only", "main", "rival/"])
                    .split(separator: "\n").count
                #expect(rivalCommits > 1 && rivalFiles == rivalCommits, "every rival commit survives in \(repository)")
                let fluxCommits = try await GitCLI.output(["-C", path, "log", "--author=Flux", "--format=%H", "main"])
                    .split(separator: "\n").map(String.init)
                for commit in fluxCommits {
                    let changed = try await GitCLI.output([
                        "-C", path, "diff-tree", "--no-commit-id", "--name-only", "-r", commit,
                    ])
                    #expect(!changed.isEmpty, "no empty commit (\(commit))")
                }
                let files = try await GitCLI.output(["-C", path, "ls-tree", "-r", "--name-only", "main", "clusters/"])
                    .split(separator: "\n")
                #expect(files.count == 200, "100 clusters × 2 files in \(repository)")
                // Each cluster's file was added exactly once.
                let added = try await GitCLI.output([
                    "-C", path, "log", "--diff-filter=A", "--name-only", "--format=", "main", "--", "clusters/",
                ])
                .split(separator: "\n").filter { !$0.isEmpty }
                #expect(
                    added.count == 200 && Set(added).count == 200, "every change lands exactly once in \(repository)")
                let stats = await writers[repository]!.statistics
                report.append(
                    """
                    \(repository): \(stats.commits) commits, \(stats.pushes) pushes (\(stats.rejections) refused), \
                    \(stats.batches) batches for 100 clusters
                    """
                )
            }
            print("writer: " + report.joined(separator: "; "))

            // Everything again: nothing to change, no commit, every cluster told so.
            let heads = try await repositories.asyncMap {
                try await GitCLI.output(["-C", bare(fixture, $0), "rev-parse", "main"])
            }
            let second = try await submitAll()
            #expect(second.allSatisfy { !$0.changed })
            #expect(
                try await repositories.asyncMap {
                    try await GitCLI.output(["-C", bare(fixture, $0), "rev-parse", "main"])
                }
                    == heads)
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

@Suite("Git: cancellation")
struct GitCancellationTests {
    @Test func cancellingAWriterStopsItsBatchAtLibgit2sNextCallback() async throws {
        try await withLab(ssh: false, config: GitTransportTests.config()) { fixture in
            let prod = try await fixture.session("prod", client: try fixture.client())
            try await fixture.lab.setFaults(LabFaults(rules: [.init(service: "git", latency: "400ms")]))
            let remote = GitRemote(
                url: "\(fixture.lab.info.endpoint)/v1/repos/fleet-prod",
                authentication: .codeCommitIAM(credentials: prod, region: "eu-west-1"),
                trust: GitTrust(caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle)))))
            let writer = try RepositoryWriter(
                remote: remote, localPath: fixture.directory.appendingPathComponent("mirror.git").path)
            let submitted = Task {
                try await writer.submit(
                    cluster: "prod-a", directory: "clusters/prod-a", changes: [.write("clusters/prod-a/x", "x")],
                    message: "m")
            }
            try await Task.sleep(for: .milliseconds(150))
            await writer.cancelAll()
            await #expect { _ = try await submitted.value } throws: { ($0 as? GitError)?.kind == .cancelled }
            let branches = try await GitCLI.output([
                "-C", "\(fixture.lab.info.repositoriesRoot)/111111111111/fleet-prod.git", "branch", "--list",
            ])
            #expect(branches.isEmpty, "nothing reached the remote")
        }
    }
}
