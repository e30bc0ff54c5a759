// The batched writer against a local bare repository (libgit2's local transport), checked with the git CLI:
// batches, idempotence, deletes, paths kept inside each cluster's folder, history, and identical blobs once.
import FleetSupport
import Foundation
import Git
import TestSupport
import Testing

@Suite("Git: the batched writer on a local repository")
struct RepositoryWriterTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-git-\(UUID())").path

    func bareRepository(_ name: String = "fleet") async throws -> String {
        let path = "\(root)/\(name).git"
        try await GitCLI.run(["init", "-q", "--bare", "-b", "main", path])
        return path
    }

    func writer(_ remote: String, options: RepositoryWriter.Options = RepositoryWriter.Options()) throws
        -> RepositoryWriter
    {
        try RepositoryWriter(
            remote: GitRemote(url: remote), localPath: "\(root)/mirror-\(UUID().uuidString).git", options: options)
    }

    @Test func concurrentClustersLandInOneCommitAndASecondRunChangesNothing() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = try await bareRepository()
        let writer = try writer(remote)
        let components = String(repeating: "# the same components file for every cluster\n", count: 2000)
        let receipts = try await withThrowingTaskGroup(of: RepositoryWriter.Receipt.self) { group in
            for i in 0..<20 {
                group.addTask {
                    try await writer.submit(
                        cluster: "c\(i)", directory: "clusters/c\(i)",
                        changes: [
                            .write("clusters/c\(i)/flux-system/gotk-components.yaml", components),
                            .write("clusters/c\(i)/flux-system/gotk-sync.yaml", "name: c\(i)\n"),
                        ],
                        message: "Add Flux v2.4.0 component manifests")
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(receipts.allSatisfy { $0.changed })
        let head = try await GitCLI.output(["-C", remote, "rev-parse", "main"])
        #expect(
            Set(receipts.map(\.commit.hex)).count <= 2,
            "one commit a batch; 20 clusters arriving together make one or two")
        #expect(receipts.contains { $0.commit.hex == head })
        let log = try await GitCLI.output(["-C", remote, "log", "--format=%an <%ae>|%s", "main"])
        #expect(
            log.split(separator: "\n").allSatisfy { $0.hasPrefix("Flux <>|Add Flux v2.4.0 component manifests") },
            "\(log)")
        let files = try await GitCLI.output(["-C", remote, "ls-tree", "-r", "--name-only", "main"])
        #expect(files.split(separator: "\n").count == 40)
        // One blob for the twenty identical components files.
        let blobs = try await GitCLI.output(["-C", remote, "ls-tree", "-r", "main"])
        #expect(
            Set(
                blobs.split(separator: "\n").filter { $0.hasSuffix("gotk-components.yaml") }.map {
                    $0.split(separator: " ")[2].prefix(40)
                }
            ).count == 1)
        let statistics = await writer.statistics
        #expect(statistics.blobsWritten == 21)

        // Again, the same files: no commit, each cluster told its files are already there.
        let again = try await writer.submit(
            cluster: "c3", directory: "clusters/c3",
            changes: [
                .write("clusters/c3/flux-system/gotk-components.yaml", components),
                .write("clusters/c3/flux-system/gotk-sync.yaml", "name: c3\n"),
            ],
            message: "Add Flux v2.4.0 component manifests")
        #expect(!again.changed)
        #expect(again.commit.hex == head)
        #expect(try await GitCLI.output(["-C", remote, "rev-parse", "main"]) == head)
    }

    @Test func deletesAndRefusesPathsOutsideTheClustersFolder() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = try await bareRepository()
        let writer = try writer(remote)
        _ = try await writer.submit(
            cluster: "a", directory: "./clusters/a/",
            changes: [.write("clusters/a/x.yaml", "x\n"), .write("clusters/a/y.yaml", "y\n")], message: "add")
        let deleted = try await writer.submit(
            cluster: "a", directory: "clusters/a",
            changes: [.delete("clusters/a/x.yaml"), .delete("clusters/a/never.yaml")], message: "remove x")
        #expect(deleted.changed)
        #expect(try await GitCLI.output(["-C", remote, "ls-tree", "-r", "--name-only", "main"]) == "clusters/a/y.yaml")
        for path in [
            "clusters/b/x.yaml", "clusters/a/../b/x.yaml", "clusters/a//x.yaml", "README.md", "clusters/ab/x.yaml",
        ] {
            await #expect {
                _ = try await writer.submit(
                    cluster: "a", directory: "clusters/a", changes: [.write(path, "no\n")], message: "escape")
            } throws: { error in
                (error as? GitError)?.kind == .invalid && "\(error)".contains("outside its folder")
            }
        }
        await #expect {
            _ = try await writer.submit(cluster: "a", directory: "../etc", changes: [], message: "x")
        } throws: { ($0 as? GitError)?.kind == .invalid }
        #expect(
            try await GitCLI.output(["-C", remote, "rev-list", "--count", "main"]) == "2",
            "nothing written by refused submissions")
    }

    @Test func batchesAfterTheFirstBuildOnTheLastPushWithoutFetchingAndAMovedBranchIsFetched() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = try await bareRepository()
        let writer = try writer(remote)
        func submit(_ cluster: String, _ text: String = "x\n") async throws -> RepositoryWriter.Receipt {
            try await writer.submit(
                cluster: cluster, directory: "clusters/\(cluster)",
                changes: [.write("clusters/\(cluster)/x.yaml", text)], message: "add \(cluster)")
        }
        // One after another: the first batch fetches, the next two build on the head the writer pushed.
        for cluster in ["a", "b", "c"] { #expect(try await submit(cluster).changed) }
        var statistics = await writer.statistics
        #expect(statistics.fetches == 1 && statistics.pushes == 3 && statistics.rejections == 0, "\(statistics)")

        // Someone else pushes: the writer's push on its stale head is refused (never forced), it fetches, and both
        // land.
        let rival = "\(root)/rival"
        try await GitCLI.run(["clone", "-q", remote, rival])
        try "rival\n".write(toFile: "\(rival)/README.md", atomically: true, encoding: .utf8)
        try await GitCLI.run(["-C", rival, "add", "README.md"])
        try await GitCLI.run([
            "-C", rival, "-c", "user.name=r", "-c", "user.email=r@example.com", "commit", "-qm", "rival",
        ])
        try await GitCLI.run(["-C", rival, "push", "-q", "origin", "main"])
        let receipt = try await submit("d")
        #expect(receipt.changed)
        #expect(try await GitCLI.output(["-C", remote, "rev-parse", "main"]) == receipt.commit.hex)
        let files = try await GitCLI.output(["-C", remote, "ls-tree", "-r", "--name-only", "main"])
        #expect(
            files.split(separator: "\n").sorted() == [
                "README.md", "clusters/a/x.yaml", "clusters/b/x.yaml", "clusters/c/x.yaml", "clusters/d/x.yaml",
            ])
        statistics = await writer.statistics
        #expect(statistics.rejections == 1 && statistics.fetches == 2, "\(statistics)")

        // "Already there" is only said after a fetch: a file removed by someone else is written again.
        try await GitCLI.run(["-C", rival, "pull", "-q", "--ff-only"])
        try await GitCLI.run(["-C", rival, "rm", "-q", "clusters/a/x.yaml"])
        try await GitCLI.run([
            "-C", rival, "-c", "user.name=r", "-c", "user.email=r@example.com", "commit", "-qm", "remove a",
        ])
        try await GitCLI.run(["-C", rival, "push", "-q", "origin", "main"])
        _ = try await submit("d", "x\n")  // its own file is still there: not changed...
        #expect(try await submit("a").changed, "...but a's was removed and is written back")
        #expect(try await GitCLI.output(["-C", remote, "show", "main:clusters/a/x.yaml"]) == "x")
    }

    /// A run killed while its fetch updated a ref leaves `<ref>.lock` in the mirror; libgit2 then refuses that ref
    /// for good. The next writer on the mirror removes it and works.
    @Test func lockFilesAKilledRunLeftInTheMirrorAreRemoved() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = try await bareRepository()
        let mirror = "\(root)/mirror.git"
        let first = try RepositoryWriter(remote: GitRemote(url: remote), localPath: mirror)
        let change = RepositoryWriter.Change.write("clusters/a/flux-system/gotk-sync.yaml", "name: a\n")
        _ = try await first.submit(cluster: "a", directory: "clusters/a", changes: [change], message: "a")
        for lock in ["refs/remotes/origin/main.lock", "packed-refs.lock", "HEAD.lock", "config.lock"] {
            try FileManager.default.createDirectory(
                atPath: "\(mirror)/\((lock as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: "\(mirror)/\(lock)", contents: Data()))
        }
        let second = try RepositoryWriter(remote: GitRemote(url: remote), localPath: mirror)
        let other = RepositoryWriter.Change.write("clusters/b/flux-system/gotk-sync.yaml", "name: b\n")
        let receipt = try await second.submit(cluster: "b", directory: "clusters/b", changes: [other], message: "b")
        #expect(receipt.changed)
        let files = try await GitCLI.output(["-C", remote, "ls-tree", "-r", "--name-only", "main"])
        #expect(files.split(separator: "\n").count == 2)
        #expect(LocalRepository.removeStaleLocks(path: mirror).isEmpty)
    }

    @Test func gitConfigInsteadOfDoesNotRedirectTheWriter() async throws {
        // Flux on the cluster reads the inventory's URL; fleetstrap must write there, whatever `url.<base>.insteadOf`
        // the operator's Git config says (here in the writer's own repository config, which libgit2 reads with the
        // rest).
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = try await bareRepository()
        let elsewhere = try await bareRepository("elsewhere")
        let mirror = "\(root)/mirror-insteadof.git"
        let writer = try RepositoryWriter(remote: GitRemote(url: remote), localPath: mirror)
        for key in ["insteadOf", "pushInsteadOf"] {
            try await GitCLI.run(["config", "-f", "\(mirror)/config", "--add", "url.\(elsewhere).\(key)", remote])
        }
        let receipt = try await writer.submit(
            cluster: "a", directory: "clusters/a", changes: [.write("clusters/a/x.yaml", "x\n")], message: "add")
        #expect(try await GitCLI.output(["-C", remote, "rev-parse", "main"]) == receipt.commit.hex)
        #expect(
            try await GitCLI.run(["-C", elsewhere, "rev-parse", "--verify", "-q", "main"]).status != 0,
            "nothing reached the insteadOf target")
    }

    @Test func anUnreachableRemoteFailsEveryClusterOfTheBatchWithTheOperationAndURL() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let writer = try writer("\(root)/missing.git")
        await #expect {
            _ = try await writer.submit(
                cluster: "a", directory: "clusters/a", changes: [.write("clusters/a/x", "x")], message: "m")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("git fetch \(root)/missing.git:") && (error as? GitError)?.libgit2 != nil
        }
    }
}

/// The git CLI, for checking what libgit2 wrote.
enum GitCLI {
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let result = try await runCommand(["git"] + arguments, environment: environment)
        return (result.status, String(decoding: result.stdout, as: UTF8.self), result.stderr)
    }

    static func output(_ arguments: [String]) async throws -> String {
        let result = try await run(arguments)
        guard result.status == 0 else {
            throw GitTestFailure("git \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct GitTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
