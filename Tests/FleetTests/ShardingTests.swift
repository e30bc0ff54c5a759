// Splitting a fleet across runners: every cluster in exactly one shard, SSH identities and repositories never split,
// the split the same on every runner, balanced; `--shard` read as I/N or N with JOB_COMPLETION_INDEX.
import Fleet
import Foundation
import Inventory
import Testing

@Suite("Fleet: shards")
struct ShardingTests {
    /// 20 https-token repositories holding 1…20 clusters, and one SSH identity over two repositories of 15 each.
    static func inventory() throws -> Inventory {
        var text = """
            apiVersion: fleetstrap.io/v1
            kind: Fleet
            defaults:
              account: main
              flux: {version: 2.4.0}
            accounts:
              - {name: main, id: "123456789012", region: eu-west-1}
            identities:
              - {name: flux, account: main, passphrase: {env: P}}
            repositories:
              - {name: ssh-a, codecommit: ssh-a, identity: flux}
              - {name: ssh-b, codecommit: ssh-b, identity: flux}

            """
        for r in 1...20 {
            text +=
                """
                  - {name: repo-\(r), codecommit: repo-\(r), transport: https-token, username: flux-at-123456789012, \
                password: {env: P}}\n
                """
        }
        text += "clusters:\n"
        for r in 1...20 {
            for c in 1...r { text += "  - {name: r\(r)-c\(c), repository: repo-\(r)}\n" }
        }
        for repo in ["ssh-a", "ssh-b"] {
            for c in 1...15 { text += "  - {name: \(repo)-c\(c), repository: \(repo)}\n" }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("shards-\(UUID().uuidString).yaml")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try InventoryLoader.load(path: path)
    }

    @Test func everyClusterIsInExactlyOneShardAndGroupsStayWhole() throws {
        let inventory = try Self.inventory()
        #expect(inventory.clusters.count == 210 + 30)
        for count in [1, 2, 3, 5, 8, 40] {
            let shards = (0..<count).map { Shard(index: $0, count: count).clusters(inventory.clusters, of: inventory) }
            let names = shards.flatMap { $0.map(\.name) }
            #expect(names.count == inventory.clusters.count && Set(names).count == names.count, "N=\(count)")
            // A repository's clusters, and the SSH identity's two repositories, are in one shard.
            for repository in inventory.repositories {
                let holding = shards.indices.filter { shards[$0].contains { $0.repository == repository.name } }
                #expect(holding.count == 1, "N=\(count): \(repository.name) in shards \(holding)")
            }
            let ssh = shards.indices.filter { shards[$0].contains { $0.repository.hasPrefix("ssh-") } }
            #expect(ssh.count == 1, "N=\(count): the identity's repositories in shards \(ssh)")
            // Balanced: no shard exceeds the ideal share by more than the largest group (30 clusters).
            let ideal = Double(inventory.clusters.count) / Double(count)
            #expect(shards.allSatisfy { Double($0.count) <= ideal + 30 }, "N=\(count): \(shards.map(\.count))")
            if count <= 8 { #expect(shards.allSatisfy { !$0.isEmpty }, "N=\(count): \(shards.map(\.count))") }
        }
        // The same split every time, and for a selection the same shard as for the whole fleet.
        #expect(Shard.assignment(inventory, count: 4) == Shard.assignment(inventory, count: 4))
        let selection = inventory.clusters.filter { $0.name.hasSuffix("-c1") }
        let whole = Shard(index: 2, count: 4).clusters(inventory.clusters, of: inventory).map(\.name)
        #expect(Shard(index: 2, count: 4).clusters(selection, of: inventory).allSatisfy { whole.contains($0.name) })
    }

    @Test func theShardOptionReadsIOverNOrTheIndexedJobsIndex() throws {
        #expect(try Shard("1/4", environment: [:]) == Shard(index: 1, count: 4))
        #expect(try Shard("4", environment: ["JOB_COMPLETION_INDEX": "3"]) == Shard(index: 3, count: 4))
        for (text, environment, message) in [
            ("4/4", [:], "must be 0 to 3"), ("-1/4", [:], "must be 0 to 3"), ("1/0", [:], "must be 1 to 10000"),
            ("a/b", [:], "must be 1 to 10000"),
            ("4", [:], "JOB_COMPLETION_INDEX is not set"), ("4", ["JOB_COMPLETION_INDEX": "7"], "must be 0 to 3"),
            ("1/2/3", [:], "write I/N"),
        ] as [(String, [String: String], String)] {
            #expect { _ = try Shard(text, environment: environment) } throws: { "\($0)".contains(message) }
        }
    }
}
