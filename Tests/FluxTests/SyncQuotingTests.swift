// gotk-sync.yaml holds the inventory's strings exactly, whatever they are: each hostile branch, path and URL is
// rendered, then read back by three independent readers (Yams, PyYAML's YAML 1.1 safe loader, and kustomize's
// go-yaml inside `kubectl kustomize`), which must all give back the very strings and no other field.
import FleetSupport
import Flux
import Foundation
import TestSupport
import Testing
import Yams

@Suite("Sync manifests quote what YAML would misread")
struct SyncQuotingTests {
    static let branches = [
        "true", "yes", "on", "off", "No", "y", "null", "~", "1.0", "0x1F", "0o17", "017", "1e3", ".inf", "-.5", "1:20",
        "2024-06-01", "#x", "a: b", "a #b", "- a", "? a", ": a", "-", "@x", "`x`", "'q'", "\"dq\"", "%x", "!tag", "&a",
        "*a", "|", ">", "[x]", "{x}", ",x", "---", "...x", " lead", "trail ", "main", "release/1.0", "é/東京", "<<",
        "=",
        "tab\there", "line\nprune: false", "evil\u{202E}txt", "back\\slash", "",
    ]
    static let paths = [
        "clusters/with space", "clusters/#hash", "clusters/a #b", "clusters/été/東京", "clusters/a: b", "true",
        "1.0",
        "clusters/x\nprune: false\nsuspend: true", "clusters/'quote'",
    ]

    static func settings() -> [SyncSettings] {
        var out = branches.map {
            SyncSettings(
                url: "ssh://APKAEXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet", branch: $0,
                path: "clusters/one")
        }
        out += paths.map { SyncSettings(url: "https://example.com/repo?x=#frag", branch: "main", path: $0) }
        return out
    }

    /// What a reader must find: the GitRepository's branch and url, the Kustomization's path.
    struct Fields: Equatable, Codable {
        var branch: String?
        var url: String?
        var path: String?
        var prune: Bool?
        var suspend: Bool?
    }

    static func expected(_ sync: SyncSettings) -> Fields {
        Fields(branch: sync.branch, url: sync.url, path: "./" + sync.path, prune: true, suspend: nil)
    }

    static func fields(_ documents: [[String: Any]]) -> Fields {
        let source = documents.first { $0["kind"] as? String == "GitRepository" }?["spec"] as? [String: Any]
        let kustomization = documents.first { $0["kind"] as? String == "Kustomization" }?["spec"] as? [String: Any]
        return Fields(
            branch: (source?["ref"] as? [String: Any])?["branch"] as? String, url: source?["url"] as? String,
            path: kustomization?["path"] as? String, prune: kustomization?["prune"] as? Bool,
            suspend: kustomization?["suspend"] as? Bool)
    }

    @Test("ordinary names are written plain, as flux writes them")
    func plainWhereFluxIsPlain() {
        for text in [
            "main", "release/1.0", "clusters/prod-eu-1", "./clusters/x", "1m0s", "ssh://APKA@host/v1/repos/x", "a:b",
        ] {
            #expect(YAMLScalar.value(text) == text)
        }
        #expect(YAMLScalar.value("true") == "\"true\"")
        #expect(YAMLScalar.value("#x") == "'#x'")
        #expect(YAMLScalar.value("it's: x") == "'it''s: x'")
        #expect(YAMLScalar.value("a\nb") == "\"a\\nb\"")
        #expect(YAMLScalar.value("tab\t") == "\"tab\\t\"")
    }

    @Test("Yams reads back every string, and the objects fleetstrap applies are what the file says")
    func yams() throws {
        for sync in Self.settings() {
            let text = SyncManifests.render(sync)
            let documents = try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
            #expect(Self.fields(documents) == Self.expected(sync), "\(text)")
            #expect(documents.count == 2)
            let applied = SyncManifests.objects(sync)
            let read = documents.map { JSONValue(any: $0) }
            #expect(read == applied, "\(text)")
        }
    }

    @Test("PyYAML (YAML 1.1) reads back every string")
    func pyyaml() throws {
        let all = Self.settings()
        let texts = all.map { SyncManifests.render($0) }
        let script = """
            import json, sys, yaml
            out = []
            for text in json.load(sys.stdin):
                docs = list(yaml.safe_load_all(text))
                src = next(d for d in docs if d and d.get("kind") == "GitRepository")["spec"]
                ks = next(d for d in docs if d and d.get("kind") == "Kustomization")["spec"]
                out.append({"branch": src["ref"]["branch"], "url": src["url"], "path": ks["path"],
                            "prune": ks["prune"], "suspend": ks.get("suspend")})
            json.dump(out, sys.stdout)
            """
        let result = try Python.run(["-c", script], input: try JSONSerialization.data(withJSONObject: texts))
        try #require(result.status == 0, "\(result.stderr)")
        let read = try JSONDecoder().decode([Fields].self, from: result.stdout)
        try #require(read.count == all.count)
        for (sync, fields) in zip(all, read) { #expect(fields == Self.expected(sync), "\(SyncManifests.render(sync))") }
    }

    @Test("kustomize (kubectl kustomize, go-yaml) reads back every string")
    func kustomize() async throws {
        let folder = try TemporaryFolder("sync-quoting")
        for (index, sync) in Self.settings().enumerated() {
            let case_ = folder.file("\(index)")
            try FileManager.default.createDirectory(at: case_, withIntermediateDirectories: true)
            try SyncManifests.render(sync).write(
                to: case_.appendingPathComponent("gotk-sync.yaml"), atomically: true, encoding: .utf8)
            let kustomization =
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- gotk-sync.yaml\n"
            try kustomization.write(
                to: case_.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
            let built = try await runCommand(["kubectl", "kustomize", case_.path])
            try #require(built.status == 0, "kubectl kustomize: \(built.stderr)")
            let documents = try Yams.load_all(yaml: String(decoding: built.stdout, as: UTF8.self)).compactMap {
                $0 as? [String: Any]
            }
            #expect(Self.fields(documents) == Self.expected(sync), "\(SyncManifests.render(sync))")
        }
    }
}
