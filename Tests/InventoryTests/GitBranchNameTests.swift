// GitBranchName against git itself: every name of a generated list is given to `git check-ref-format --branch`
// (outside any repository, so `@{-1}` is not expanded) and to the Swift rules; the verdicts must agree.
import Foundation
import Inventory
import TestSupport
import Testing

@Suite("Git branch names")
struct GitBranchNameTests {
    /// Hand-picked names at every rule's edge, then names built from pieces that trip the rules, by a seeded generator.
    static func names() -> [String] {
        var names = [
            "main", "master", "HEAD", "head", "HEAD/x", "x/HEAD", "@", "@@", "x/@", "@{-1}", "a@{b", "a@b{", "-x", "x-",
            "a.lock/b", "a/b.lock", "a.lock", ".lock", "a.locked", "lock", "a/.hidden", ".foo", "foo.", "a./b", "a/b.",
            "x..y", "x.y", "x/./y", "a//b", "/a", "a/", "a b", "a\tb", "a\u{7F}b", "a~b", "a^b", "a:b", "a?b", "a*b",
            "a[b", "a]b", "a\\b", "é", "東京/branch", "evil\u{202E}txt", "true", "yes", "on", "null", "~x", "1.0",
            "0x1F",
            "#x", "a: b", "release/2024-06", "feature/JIRA-1234_fix", "a{b}", "a}b", "{", "}", "a!b", "a'b", "a\"b",
            "a|b", "a;b", "a=b", "a,b", "a%b", "a&b", "a$b", "a(b)", "a<b>", "a+b", "a#b", ".", "..", "...", "a...b",
        ]
        let pieces = [
            "a", "b", "Z", "9", ".", "/", "lock", ".lock", "@", "{", "}", "-", "_", "..", "HEAD", "é", "*", ":", " ",
            "~", "^", "?", "[", "\\", "#", "'", "x.y", "//",
        ]
        var random = SplitMix64(seed: 0x5EED_B0A7)
        var seen = Set(names)
        while names.count < 400 {
            let count = Int(random.next() % 5) + 1
            let name = (0..<count).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
            if seen.insert(name).inserted { names.append(name) }
        }
        return names
    }

    /// git's verdict on each name, from one shell that runs `git check-ref-format --branch` once per name.
    static func gitVerdicts(_ names: [String]) throws -> [Bool] {
        let folder = try TemporaryFolder("branch-names")
        let list = folder.path + "/names"
        var data = Data()
        for name in names { data += Data(name.utf8) + Data([0]) }
        try data.write(to: URL(fileURLWithPath: list))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        process.arguments = [
            "-c",
            #"while IFS= read -r -d '' n; do git check-ref-format --branch "$n" >/dev/null 2>&1 && echo 1 || echo 0; "#
                + "done < names",
        ]
        // Outside any repository, whatever the test's own folder is.
        process.environment = ProcessInfo.processInfo.environment.merging(["GIT_CEILING_DIRECTORIES": folder.path]) {
            $1
        }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").map { $0 == "1" }
    }

    @Test("at least 300 names, each judged as git judges it")
    func agreesWithGit() throws {
        let names = Self.names()
        #expect(names.count >= 300)
        let verdicts = try Self.gitVerdicts(names)
        try #require(verdicts.count == names.count, "git answered \(verdicts.count) of \(names.count) names")
        var disagreements: [String] = []
        for (name, git) in zip(names, verdicts) where GitBranchName.isValid(name) != git {
            disagreements.append(
                "'\(name)': git \(git ? "accepts" : "refuses"), fleetstrap \(git ? "refuses" : "accepts")")
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        // Both verdicts occur often enough for the comparison to mean something.
        #expect(verdicts.filter { $0 }.count > 60 && verdicts.filter { !$0 }.count > 60)
    }

    @Test("names git cannot receive at all are refused")
    func nulAndEmpty() {
        #expect(GitBranchName.problem("") == "it is empty")
        #expect(GitBranchName.problem("a\u{0}b") == "it holds a control character")
    }
}
