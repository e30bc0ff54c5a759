// The official SigV4 test suite (aws-c-auth's 38 cases), in header and query mode.
import FleetSupport
import Foundation
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("SigV4 suite")
struct SigV4SuiteTests {
    static var cases: [String] {
        let dir = SharedData.url("testdata/sigv4-suite")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { !$0.hasSuffix(".md") }.sorted()
    }

    struct Case {
        let signer: SigV4Signer
        let request: SigV4Request
        let credentials: AWSCredentials
        let date: Date
        let expires: Int
        let dir: URL

        func expected(_ name: String) throws -> String {
            try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        }
    }

    static func load(_ name: String) throws -> Case {
        let dir = SharedData.url("testdata/sigv4-suite/\(name)")
        let context =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("context.json")))
            as! [String: Any]
        let creds = context["credentials"] as! [String: String]
        var signer = SigV4Signer(service: context["service"] as! String, region: context["region"] as! String)
        signer.normalizePath = context["normalize"] as? Bool ?? true
        signer.signBody = context["sign_body"] as? Bool ?? false
        signer.omitSessionToken = context["omit_session_token"] as? Bool ?? false
        let credentials = AWSCredentials(
            accessKeyID: creds["access_key_id"]!, secretAccessKey: creds["secret_access_key"]!,
            sessionToken: creds["token"])
        let date = AWSTimestamp.parseISO8601(context["timestamp"] as! String)!
        let raw = try String(contentsOf: dir.appendingPathComponent("request.txt"), encoding: .utf8)
        return Case(
            signer: signer, request: parseRequest(raw), credentials: credentials, date: date,
            expires: context["expiration_in_seconds"] as? Int ?? 3600, dir: dir)
    }

    /// Parses the suite's raw HTTP request: request line, headers (continuation lines fold into the previous
    /// value), blank line, body.
    static func parseRequest(_ raw: String) -> SigV4Request {
        var lines = raw.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix(while: { $0 != " " }))
        let target = String(requestLine.dropFirst(method.count + 1).dropLast(" HTTP/1.1".count))
        var headers: [(String, String)] = []
        while let line = lines.first, !line.isEmpty {
            lines.removeFirst()
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].1 += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let body = lines.dropFirst().joined(separator: "\n")
        let path: String
        let query: [(String, String)]
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = PercentEncoding.parseQuery(target[target.index(after: q)...])
        } else {
            path = target
            query = []
        }
        let host = headers.first { $0.0.lowercased() == "host" }?.1 ?? ""
        return SigV4Request(
            method: method, host: host, path: path, query: query, headers: headers, body: Array(body.utf8))
    }

    @Test func suiteHasAllCases() {
        #expect(Self.cases.count == 38)
    }

    @Test(arguments: cases)
    func headerMode(_ name: String) throws {
        let c = try Self.load(name)
        let signed = c.signer.sign(c.request, credentials: c.credentials, date: c.date)
        #expect(signed.canonicalRequest == (try c.expected("header-canonical-request.txt")))
        #expect(signed.stringToSign == (try c.expected("header-string-to-sign.txt")))
        #expect(signed.signature == (try c.expected("header-signature.txt")))
        let authorization = signed.request.headers.first { $0.0 == "Authorization" }?.1
        #expect((try c.expected("header-signed-request.txt")).contains("Authorization:\(authorization ?? "-")"))
    }

    @Test(arguments: cases)
    func queryMode(_ name: String) throws {
        let c = try Self.load(name)
        let signed = c.signer.presign(c.request, credentials: c.credentials, date: c.date, expires: c.expires)
        #expect(signed.canonicalRequest == (try c.expected("query-canonical-request.txt")))
        #expect(signed.stringToSign == (try c.expected("query-string-to-sign.txt")))
        #expect(signed.signature == (try c.expected("query-signature.txt")))
    }
}
