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
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        let delegate = Builder()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse(), !delegate.tooDeep, let root = delegate.root else { return nil }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var tooDeep = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]) {
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

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard var node = stack.popLast() else { return }
            node.text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}
