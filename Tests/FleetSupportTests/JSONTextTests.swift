import Foundation
import TestSupport
import Testing

@testable import FleetSupport

@Suite struct JSONTextTests {
    @Test func readsWhatFoundationsDecoderReads() throws {
        let text = #"""
            {"a": [1, -2.5, 3e2, 0, -0.0, 1E-3, true, false, null], "s": "tab\tquote\" slash\/ back\\ \#
            \u00e9\ud83d\ude00 \u0000",
             "nested": {"deep": [[[{}]]], "empty": []}, "big": 123456789012, "k8s": {"metadata": {"name": "x", \#
            "generation": 2}}}
            """#
        let ours = try #require(JSONValue.parse(Array(text.utf8)))
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(
            ours[path: "a"]
                == .array([
                    .number(1), .number(-2.5), .number(300), .number(0), .number(-0.0), .number(0.001), .bool(true),
                    .bool(false), .null,
                ]))
        #expect(ours["s"] == foundation["s"])
        #expect(ours["s"]?.string == "tab\tquote\" slash/ back\\ é😀 \u{0}")
        #expect(ours["nested"] == foundation["nested"])
        #expect(ours[path: "k8s.metadata.generation"]?.int == 2)
        #expect(ours["big"]?.int == 123_456_789_012)
    }

    @Test func writesWhatItReads() throws {
        let value = JSONValue.object([
            "z": .string("line\nbreak \"quoted\" \u{1} /slash é"),
            "a": .array([.number(1), .number(2.5), .number(-7), .null, .bool(false)]),
            "m": .object(["b": .string(""), "a": .object([:])]),
        ])
        let text = String(decoding: value.encoded, as: UTF8.self)
        #expect(
            text == #"{"a":[1,2.5,-7,null,false],"m":{"a":{},"b":""},"z":"line\nbreak \"quoted\" \u0001 /slash é"}"#)
        #expect(JSONValue.parse(value.encoded) == value)
        // Foundation reads our text the same way.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(value.encoded)) == value)
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "1E400", "-44444444444E44444", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5",
        "-", "+1", "1e", "0x10", "NaN", "Infinity",
        "tru", "nul", "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\ud800\"", "\"\\ud800\\u0041\"",
        "\"raw \u{1} control\"",
        "[1] [2]", "{\"a\":1}x", "'single'", "[\"a\"\"b\"]",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "\(text)")
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(JSONValue.parse([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")]) == nil)
        #expect(JSONValue.parse([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")]) == nil)
        let deep =
            String(repeating: "[", count: JSONValue.maximumDepth + 1)
            + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(JSONValue.parse(Array(deep.utf8)) == nil)
        let allowed = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(JSONValue.parse(Array(allowed.utf8)) != nil)
        // A million opening brackets: refused at the limit, without recursing a million frames.
        #expect(JSONValue.parse(Array(repeating: UInt8(ascii: "["), count: 1_000_000)) == nil)
    }

    /// Omitted top-level members are gone and the rest is as a full read gives it, for random objects.
    @Test func omitsTopLevelMembersOnly() throws {
        var generator = SplitMix64(seed: 11)
        for _ in 0..<200 {
            var members: [String: JSONValue] = [:]
            for key in ["spec", "status", "metadata"] { members[key] = JSONValue.random(using: &generator, depth: 0) }
            members["status"] = .object(["spec": .string("a nested spec is kept"), "value": members["status"]!])
            let bytes = JSONValue.object(members).encoded
            var expected = members
            expected["spec"] = nil
            #expect(JSONValue.parse(bytes, omitting: ["spec"]) == .object(expected))
        }
        #expect(
            JSONValue.parse(Array(#"[{"spec": 1}]"#.utf8), omitting: ["spec"])
                == .array([.object(["spec": .number(1)])]))
    }

    /// An omitted member is still checked: a text that is not JSON is refused the same.
    @Test(arguments: [
        #"{"spec": {"a": 1,}, "status": {}}"#, #"{"spec": [1 2], "status": {}}"#, #"{"spec": "bad \x escape"}"#,
        #"{"spec": "\ud800"}"#,
        "{\"spec\": \"raw \u{1} control\"}", #"{"spec": {"a" 1}}"#, #"{"spec": tru}"#, #"{"spec": "unterminated}"#,
        #"{"spec": {"a": 1}"#,
        #"{"spec": 01}"#, #"{"spec": {a: 1}}"#,
    ])
    func omittedMembersAreStillChecked(_ text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil, "\(text)")
        #expect(JSONValue.parse(Array(text.utf8), omitting: ["spec"]) == nil, "\(text)")
    }

    @Test func omittedDeepNestingIsRefused() {
        let deep =
            String(repeating: "[", count: JSONValue.maximumDepth + 1)
            + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(JSONValue.parse(Array("{\"spec\": \(deep)}".utf8), omitting: ["spec"]) == nil)
        #expect(
            JSONValue.parse(Array("{\"spec\": [[{\"a\": \"\\u00e9\\n\"}]], \"b\": 1}".utf8), omitting: ["spec"])
                == .object(["b": .number(1)]))
    }

    /// Random values written and read back, and read by Foundation the same way.
    @Test func randomValuesRoundTrip() throws {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let value = JSONValue.random(using: &generator, depth: 0)
            let bytes = value.encoded
            #expect(JSONValue.parse(bytes) == value)
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) == value)
        }
    }
}

extension JSONTextTests {
    /// Known values are written from their bytes wherever an equal object or list occurs, shared or not, at any
    /// depth; a value of the same size that differs, or a scalar, is encoded as usual.
    @Test func knownValuesAreWrittenFromTheirBytes() throws {
        let schema: JSONValue = .object([
            "type": .string("object"), "properties": .object(["a": .object(["type": .string("string")])]),
        ])
        let marker = Array(#""KNOWN""#.utf8)
        let known = [EncodedJSON(schema, bytes: marker), EncodedJSON(.string("x"), bytes: Array("1".utf8))]
        let shared: JSONValue = .object(["kind": .string("x"), "spec": schema, "list": .array([schema, .string("x")])])
        #expect(
            String(decoding: shared.encoded(reusing: known), as: UTF8.self)
                == #"{"kind":"x","list":["KNOWN","x"],"spec":"KNOWN"}"#)
        let equalNotShared = try #require(JSONValue.parse(shared.encoded))
        #expect(equalNotShared.encoded(reusing: known) == shared.encoded(reusing: known))
        var sameSizeOther = shared
        sameSizeOther["spec"]?["type"] = .string("array")
        #expect(
            String(decoding: sameSizeOther.encoded(reusing: known), as: UTF8.self)
                == #"{"kind":"x","list":["KNOWN","x"],"spec":{"properties":{"a":{"type":"string"}},"type":"array"}}"#)
        #expect(shared.encoded(reusing: []) == shared.encoded)
    }

    /// With their true bytes, known values change nothing: random values, random parts of them known.
    @Test func reusingKnownValuesWritesWhatEncodingWrites() throws {
        var generator = SplitMix64(seed: 11)
        for _ in 0..<300 {
            let value = JSONValue.random(using: &generator, depth: 0)
            var parts: [JSONValue] = []
            func collect(_ node: JSONValue) {
                switch node {
                case .object(let members):
                    parts.append(node)
                    members.values.forEach(collect)
                case .array(let items):
                    parts.append(node)
                    items.forEach(collect)
                default: break
                }
            }
            collect(value)
            let known =
                parts.filter { _ in Bool.random(using: &generator) }.map(EncodedJSON.init)
                + [EncodedJSON(JSONValue.random(using: &generator, depth: 1))]
            #expect(value.encoded(reusing: known) == value.encoded)
        }
    }
}

extension JSONValue {
    static func random(using generator: inout SplitMix64, depth: Int) -> JSONValue {
        let pick = Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &generator)
        switch pick {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            return Bool.random(using: &generator)
                ? .number(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)))
                : .number(Double(Int.random(in: -1000...1000, using: &generator)) / 8)
        case 3:
            let scalars = (0..<Int.random(in: 0..<12, using: &generator)).map { _ in
                Character(
                    Unicode.Scalar(
                        [0x22, 0x5C, 0x2F, 0x0A, 0x01, 0x41, 0x7A, 0xE9, 0x2028, 0x1F600].randomElement(
                            using: &generator)!)!)
            }
            return .string(String(scalars))
        case 4:
            return .array(
                (0..<Int.random(in: 0..<5, using: &generator)).map { _ in random(using: &generator, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for index in 0..<Int.random(in: 0..<5, using: &generator) {
                members["k\(index)\(Int.random(in: 0..<3, using: &generator))"] = random(
                    using: &generator, depth: depth + 1)
            }
            return .object(members)
        }
    }
}
