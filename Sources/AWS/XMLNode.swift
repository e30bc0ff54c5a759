// A small XML tree for AWS Query responses (STS, IAM), built with Foundation's XMLParser.
import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

struct XMLNode: Sendable {
    var name: String
    var text: String
    var children: [XMLNode]

    /// The first child with `name`.
    subscript(_ name: String) -> XMLNode? { children.first { $0.name == name } }

    /// Follows a path of child names: `node["A", "B"]`.
    subscript(_ first: String, _ rest: String...) -> XMLNode? {
        rest.reduce(self[first]) { $0?[$1] }
    }

    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    /// The first descendant with `name`, depth first.
    func find(_ name: String) -> XMLNode? {
        if self.name == name { return self }
        for child in children { if let found = child.find(name) { return found } }
        return nil
    }

    /// Parses a document; nil when it is not well-formed XML or nests absurdly deep.
    static func parse(_ bytes: [UInt8]) -> XMLNode? {
        // AWS answers in UTF-8. FoundationXML traps on element names that are not (found by fuzzing), so such a body is
        // refused here as malformed rather than handed to it.
        guard String(validating: bytes, as: UTF8.self) != nil, hasOnlyAWSConstructs(bytes) else { return nil }
        let delegate = Builder()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse(), !delegate.tooDeep, let root = delegate.root else { return nil }
        return root
    }

    /// AWS documents are elements, text, comments and CDATA after at most one XML declaration. Processing
    /// instructions crash FoundationXML on some inputs (found by fuzzing: `<?x?>` reads a null pointer), and a DTD
    /// is where entity expansion attacks live; a body with either is not an AWS answer and is refused unread.
    static func hasOnlyAWSConstructs(_ bytes: [UInt8]) -> Bool {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        let declaration = Array("<?xml ".utf8)
        if bytes[start...].starts(with: declaration) {
            // The declaration ends at the first "?>"; nothing inside it may open another construct.
            var i = start + declaration.count
            while i + 1 < bytes.count, !(bytes[i] == UInt8(ascii: "?") && bytes[i + 1] == UInt8(ascii: ">")) {
                if bytes[i] == UInt8(ascii: "<") { return false }
                i += 1
            }
            guard i + 1 < bytes.count else { return false }
            start = i + 2
        }
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "<") {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "?") { return false }
                if next == UInt8(ascii: "!") {
                    // Comments and CDATA are skipped whole: what they hold is text.
                    let (open, close) =
                        bytes[(i + 2)...].starts(with: Array("--".utf8))
                        ? (4, Array("-->".utf8))
                        : bytes[(i + 2)...].starts(with: Array("[CDATA[".utf8)) ? (9, Array("]]>".utf8)) : (0, [])
                    guard open > 0 else { return false }
                    guard let end = firstRange(of: close, in: bytes, from: i + open) else { return false }
                    i = end
                    continue
                }
            }
            i += 1
        }
        return true
    }

    /// The index just past the first `needle` at or after `from`.
    private static func firstRange(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) { return i + needle.count }
            i += 1
        }
        return nil
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var tooDeep = false

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            guard stack.count < 64 else {
                tooDeep = true
                parser.abortParsing()
                return
            }
            stack.append(XMLNode(name: name, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += String(decoding: block, as: UTF8.self)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard var node = stack.popLast() else { return }
            node.text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}
