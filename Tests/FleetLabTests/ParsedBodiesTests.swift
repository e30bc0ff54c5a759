// The lab's cache of request bodies every cluster receives: the same bytes give the same object and paths whether
// parsed or cached, what is small or unreadable is never kept, and stores sharing a cached object stay independent.
import FleetSupport
import Foundation
import Testing

@testable import FleetLab

@Suite("Lab: bodies parsed once for the fleet")
struct ParsedBodiesTests {
    /// A CRD-sized body: an object with a few thousand fields.
    static let large: [UInt8] = {
        let properties = (0..<300).map {
            "\"field\($0)\": {\"type\": \"string\", \"description\": \"field number \($0)\"}"
        }
        return Array(
            #"""
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": \#
            "x.example.io"}, "spec": {"properties": {
            """#
            .utf8)
            + Array(properties.joined(separator: ", ").utf8) + Array("}}}".utf8)
    }()

    @Test func aLargeBodyIsParsedOnceAndGivesWhatParsingGives() throws {
        let cache = ParsedBodies()
        let parses = Counter()
        let parse: ([UInt8]) -> JSONValue? = {
            parses.add()
            return JSONValue.parse($0)
        }
        let first = try #require(cache.parsed(Self.large, parse: parse))
        let second = try #require(cache.parsed(Array(Self.large), parse: parse))
        #expect(parses.value == 1)
        #expect(first.value == JSONValue.parse(Self.large))
        #expect(second.value == first.value)
        #expect(first.paths == KubernetesStore.paths(of: first.value))
        // Type and description of each; apiVersion, kind and metadata.name belong to no one
        #expect(first.paths.count == 600)
        #expect(cache.value(Self.large, parse: parse) == first.value)
        #expect(parses.value == 1)
    }

    @Test func smallOrUnreadableBodiesAreNotKept() {
        let cache = ParsedBodies()
        let parses = Counter()
        let parse: ([UInt8]) -> JSONValue? = {
            parses.add()
            return JSONValue.parse($0)
        }
        let small = Array(#"{"kind": "Namespace", "metadata": {"name": "flux-system"}}"#.utf8)
        _ = cache.parsed(small, parse: parse)
        _ = cache.parsed(small, parse: parse)
        #expect(parses.value == 2)
        var broken = Self.large
        broken.removeLast()
        #expect(cache.parsed(broken, parse: parse) == nil)
        #expect(cache.parsed(broken, parse: parse) == nil)
        #expect(parses.value == 4)
        // A body only created or replaced (a cluster's own Secret) is read, never kept.
        let other = Self.large + Array(" ".utf8)
        #expect(cache.value(other, parse: parse) != nil)
        #expect(cache.value(other, parse: parse) != nil)
        #expect(parses.value == 6)
    }

    @Test func storesSharingACachedObjectStayIndependent() throws {
        let cache = ParsedBodies()
        let body = try #require(cache.parsed(Self.large) { JSONValue.parse($0) })
        let crd = ResourceType.builtIn.first { $0.kind == "CustomResourceDefinition" }!
        var one = KubernetesStore()
        var two = KubernetesStore()
        _ = try one.apply(
            body.value, intent: body.paths, type: crd, namespace: nil, name: "x.example.io", manager: "flux",
            force: false)
        _ = try two.apply(
            body.value, intent: body.paths, type: crd, namespace: nil, name: "x.example.io", manager: "flux",
            force: false)
        var changed = body.value
        changed["spec"]?["properties"]?["field0"]?["type"] = .string("integer")
        _ = try one.apply(changed, type: crd, namespace: nil, name: "x.example.io", manager: "flux", force: false)
        #expect(
            try one.get(crd, namespace: nil, name: "x.example.io")[path: "spec.properties.field0.type"]
                == .string("integer"))
        #expect(
            try two.get(crd, namespace: nil, name: "x.example.io")[path: "spec.properties.field0.type"]
                == .string("string"))
        #expect(cache.parsed(Self.large) { JSONValue.parse($0) }?.value == body.value)
    }

    /// An object applied from a kept body answers with the bytes it would have without sharing, read back or
    /// applied, before and after its spec changes; its FieldsV1 is the one kept with the body.
    @Test func sharedRenderingsAnswerWhatRenderingAnswers() throws {
        let cache = ParsedBodies()
        let body = try #require(cache.parsed(Self.large) { JSONValue.parse($0) })
        let shared = try #require(body.shared)
        let crd = ResourceType.builtIn.first { $0.kind == "CustomResourceDefinition" }!
        var store = KubernetesStore()
        let (applied, _) = try store.apply(
            body.value, intent: body.paths, shared: shared, type: crd, namespace: nil, name: "x.example.io",
            manager: "flux", force: false)
        #expect(KubernetesAPI.json(applied, reusing: shared.encodings).body == applied.encoded)
        #expect(
            applied[path: "metadata.managedFields"]?.array?.first?["fieldsV1"] == KubernetesStore.fieldsV1(body.paths))
        let read = try store.get(crd, namespace: nil, name: "x.example.io")
        #expect(store.encodings(crd, namespace: nil, name: "x.example.io").count == 2)
        #expect(
            KubernetesAPI.json(read, reusing: store.encodings(crd, namespace: nil, name: "x.example.io")).body
                == read.encoded)
        var changed = body.value
        changed["spec"]?["properties"]?["field0"]?["type"] = .string("integer")
        _ = try store.apply(changed, type: crd, namespace: nil, name: "x.example.io", manager: "flux", force: false)
        let reread = try store.get(crd, namespace: nil, name: "x.example.io")
        #expect(reread[path: "spec.properties.field0.type"] == .string("integer"))
        #expect(
            KubernetesAPI.json(reread, reusing: store.encodings(crd, namespace: nil, name: "x.example.io")).body
                == reread.encoded)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add() { lock.withLock { count += 1 } }
}
