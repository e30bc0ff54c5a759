// The Query XML reader: what AWS sends is read; what AWS never sends (processing instructions, DTDs, bytes that are
// not UTF-8) is refused before FoundationXML sees it, since fuzzing found inputs of those kinds that crash it.
import Testing

@testable import AWS

@Suite("AWS XML reader")
struct XMLNodeTests {
    @Test(arguments: [
        "<A><B>x</B></A>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A><B>x</B></A>",
        "\u{FEFF}<?xml version=\"1.0\"?><A><B>x</B></A>",
        "<A><!-- <?pi?> <!DOCTYPE --><B>x</B></A>",
        "<A><B><![CDATA[x]]></B></A>",
    ])
    func readsWhatAWSSends(_ text: String) throws {
        let node = try #require(XMLNode.parse(Array(text.utf8)))
        #expect(node.name == "A" && node["B"]?.text == "x")
    }

    @Test(arguments: [
        "<?xm?><A/>",
        "<A><?pi?></A>",
        "<?xml version=\"1.0\"?><?other?><A/>",
        "<!DOCTYPE A [<!ENTITY e \"x\">]><A>&e;</A>",
        "<A><!ENTITY e \"x\"></A>",
        "<A><!-- unterminated </A>",
        "<?xml version=\"1.0\"",
    ])
    func refusesWhatAWSNeverSends(_ text: String) {
        #expect(XMLNode.parse(Array(text.utf8)) == nil)
    }

    @Test func refusesBytesThatAreNotUTF8() {
        #expect(XMLNode.parse([0x3C, 0x41, 0xFE, 0x3E, 0x3C, 0x2F, 0x41, 0x3E]) == nil)
    }
}
