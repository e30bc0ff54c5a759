// JSON text to and from `JSONValue`, byte by byte (RFC 8259). Kubernetes answers and requests are read and written
// here: the fleet benchmark found `JSONDecoder` decoding an any-typed value (a failed `decode(Bool.self)`, then
// `Double`, … each building an error and its coding path) to be half of the orchestrator's CPU.

extension JSONValue {
    /// Nesting deeper than this is refused (Kubernetes objects nest about 20 levels).
    public static let maximumDepth = 512

    /// The value of a JSON text, or nil when the text is not JSON (trailing garbage, bad escapes, invalid UTF-8,
    /// nesting deeper than `maximumDepth`).
    public static func parse(_ bytes: [UInt8]) -> JSONValue? { parse(bytes, omitting: []) }

    /// The value of a JSON text whose top-level object's members named in `omitting` are checked but not kept: a
    /// CRD's status without its schema, hundreds of kilobytes a fleet would otherwise build and drop. The omitted
    /// members' strings are not checked for valid UTF-8.
    public static func parse(_ bytes: [UInt8], omitting: Set<String>) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(bytes: buffer)
            reader.omitted = omitting
            guard let value = reader.value(depth: 0) else { return nil }
            reader.skipSpace()
            return reader.index == buffer.count ? value : nil
        }
    }

    /// Compact JSON with keys sorted and slashes unescaped; integral numbers below 10^15 without a fraction.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        Self.write(self, to: &out, reusing: Reuse(known: []))
        return out
    }

    /// `encoded`, with any object or list inside equal to one of `known` written from that one's bytes rather than
    /// encoded again: for a large value many objects share (a CRD's schema in every cluster's copy of the CRD). A
    /// shared value is found in constant time (values compare by identity first), so only `known` costs anything.
    public func encoded(reusing known: [EncodedJSON]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        Self.write(self, to: &out, reusing: Reuse(known: known))
        return out
    }

    /// `known` by member count: a node is compared only with known values of its own size.
    private struct Reuse {
        let bySize: [Int: [EncodedJSON]]
        init(known: [EncodedJSON]) { bySize = Dictionary(grouping: known, by: \.size) }

        func bytes(for value: JSONValue, size: Int) -> [UInt8]? {
            guard !bySize.isEmpty, let candidates = bySize[size] else { return nil }
            return candidates.first { $0.value == value }?.bytes
        }
    }

    private static func write(_ value: JSONValue, to out: inout [UInt8], reusing reuse: Reuse) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n):
            if !n.isFinite {
                out.append(contentsOf: "null".utf8)
            } else if n == n.rounded(), abs(n) < 1e15 {
                out.append(contentsOf: String(Int64(n)).utf8)
            } else {
                out.append(contentsOf: "\(n)".utf8)
            }
        case .string(let s): writeString(s, to: &out)
        case .array(let items):
            if let known = reuse.bytes(for: value, size: items.count) { return out.append(contentsOf: known) }
            out.append(UInt8(ascii: "["))
            var first = true
            for item in items {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(item, to: &out, reusing: reuse)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if let known = reuse.bytes(for: value, size: members.count) { return out.append(contentsOf: known) }
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(member, to: &out, reusing: reuse)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Runs of bytes that need no escape are copied whole: Kubernetes objects are mostly long plain strings.
    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var run = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                writeEscape(byte, to: &out)
                run = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func writeEscape(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            out.append(UInt8(ascii: "u"))
            out.append(0x30)
            out.append(0x30)
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0x0F))
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10 }
}

/// A cursor over JSON text. Every function returns nil at the first byte that breaks the grammar.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Members of the top-level object skipped rather than built.
    var omitted: Set<String> = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard depth < JSONValue.maximumDepth else { return nil }
        skipSpace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return nil }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
        index += count
        return value
    }

    private mutating func object(depth: Int) -> JSONValue? {
        index += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if depth == 0, omitted.contains(key) {
                guard skip(depth: depth + 1) else { return nil }
            } else {
                guard let member = value(depth: depth + 1) else { return nil }
                members[key] = member
            }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            return .object(members)
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        index += 1
        var items: [JSONValue] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            guard let item = value(depth: depth + 1) else { return nil }
            items.append(item)
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { return nil }
            index += 1
            return .array(items)
        }
    }

    /// At the opening quote; the string's value after its escapes, or nil (control characters, bad escapes,
    /// lone surrogates, invalid UTF-8).
    mutating func string() -> String? {
        index += 1
        let start = index
        // The common case: no escapes, copied in one go.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"),
            bytes[index] >= 0x20
        { index += 1 }
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "\"") {
            defer { index += 1 }
            return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }
        var raw = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(validating: raw, as: UTF8.self)
            case ..<0x20:
                return nil
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): raw.append(escape)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    raw.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
            default:
                raw.append(byte)
                index += 1
            }
        }
        return nil
    }

    /// Past one value, checking its grammar without building it.
    private mutating func skip(depth: Int) -> Bool {
        guard depth < JSONValue.maximumDepth else { return false }
        skipSpace()
        guard index < bytes.count else { return false }
        let close: UInt8
        switch bytes[index] {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"): close = UInt8(ascii: "}")
        case UInt8(ascii: "["): close = UInt8(ascii: "]")
        default: return value(depth: depth) != nil
        }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == close {
            index += 1
            return true
        }
        while true {
            if close == UInt8(ascii: "}") {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), skipString() else { return false }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                index += 1
            }
            guard skip(depth: depth + 1) else { return false }
            skipSpace()
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == close else { return false }
            index += 1
            return true
        }
    }

    /// Past a string at its opening quote, checking its escapes and that it holds no control character.
    private mutating func skipString() -> Bool {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return true
            case ..<0x20: return false
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return false }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"): guard unicodeEscape() != nil else { return false }
                default: return false
                }
            default: continue
            }
        }
        return false
    }

    /// After `\u`: four hex digits, and a low surrogate's escape after a high one.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let high = hex4() else { return nil }
        if (0xD800...0xDBFF).contains(high) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { return nil }
            index += 2
            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        }
        return Unicode.Scalar(high)
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() -> JSONValue? {
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else if digits() == 0 { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { return nil }
        }
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self),
            let number = Double(text),
            // 1E400 is not representable, as JSONSerialization says too; it would be written back as "inf"
            number.isFinite
        else {
            return nil
        }
        return .number(number)
    }
}

/// A value with its JSON text (`encoded`), to be written again without encoding it again (`encoded(reusing:)`).
public struct EncodedJSON: Sendable {
    public let value: JSONValue
    public let bytes: [UInt8]
    /// Members of an object or items of a list; a scalar (-1) is never looked for.
    let size: Int

    public init(_ value: JSONValue) { self.init(value, bytes: value.encoded) }

    /// With other bytes than the value's own: for tests, to see where known bytes are written.
    init(_ value: JSONValue, bytes: [UInt8]) {
        self.value = value
        self.bytes = bytes
        switch value {
        case .object(let members): size = members.count
        case .array(let items): size = items.count
        default: size = -1
        }
    }
}
