import Testing

// Response header lines are trimmed of HTTP's whitespace only (spaces, tabs, CR, LF), byte by byte.
@testable import HTTP

@Suite("HTTP: header line trimming")
struct HeaderTrimTests {
    @Test(arguments: [
        ("Retry-After: 3\r\n", "Retry-After: 3"), ("  \t value \t\r\n", "value"), ("", ""), ("\r\n", ""), ("  ", ""),
        ("a", "a"),
        ("x-é: ü \r\n", "x-é: ü"), ("\u{A0}nbsp\u{A0}", "\u{A0}nbsp\u{A0}"), ("inner  space", "inner  space"),
    ])
    func trimsHTTPWhitespaceOnly(_ line: String, _ expected: String) {
        #expect(CurlTransfer.trimmed(line[...]) == expected[...])
    }
}
