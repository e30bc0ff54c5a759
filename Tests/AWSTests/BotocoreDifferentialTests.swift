// fleetstrap's signer against botocore on generated requests: odd paths, repeated and unicode query keys,
// header whitespace, bodies, session tokens. botocore runs in a python3 child process.
import FleetSupport
import Foundation
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("SigV4 against botocore")
struct BotocoreDifferentialTests {
    struct Generated {
        let mode: String
        let method: String
        let host: String
        let path: String
        let params: [(String, String)]
        let headers: [(String, String)]
        let body: [UInt8]
        let service: String
        let region: String
        let credentials: AWSCredentials
        let date: Date
        let expires: Int
    }

    static func generate(count: Int, seed: UInt64) -> [Generated] {
        var rng = SplitMix64(seed: seed)
        let pathPieces = [
            "a", "b c", "ሴ", "%20", "x~y", "..", ".", "", "clusters", "v1", "repos", "ü", "a+b", "1=2", "*", "@",
            "$",
        ]
        let keyPieces = [
            "Action", "Version", "a", "A", "b", "ሴ", "key with space", "", "x-amz-meta", "Z", "é", "k=v", "&", "+",
        ]
        let valuePieces = ["1", "", "two words", "ü", "a/b", "=", "~", "%", "+", "2011-06-15", "GetCallerIdentity"]
        let headerNames = [
            "X-Custom", "x-custom", "Content-Type", "My-Header", "x-amz-target", "User-Agent", "Accept", "X-Amz-Meta-A",
        ]
        let headerValues = [
            "value", "  padded  ", "a  b\t c", "application/x-amz-json-1.1", "1,2", "", " x ", "tab\there",
        ]
        let services = [
            ("sts", "us-east-1"), ("iam", "us-east-1"), ("eks", "eu-west-1"), ("codecommit", "ap-southeast-2"),
            ("service", "us-west-2"),
        ]
        let hosts = ["example.amazonaws.com", "sts.eu-west-1.amazonaws.com", "127.0.0.1:8443", "localhost:4566"]
        var out: [Generated] = []
        for i in 0..<count {
            let mode = i % 4 == 3 ? "query" : "header"
            let segments = (0..<Int.random(in: 0...4, using: &rng)).map { _ in pathPieces.randomElement(using: &rng)! }
            var path = "/" + segments.joined(separator: "/")
            if Bool.random(using: &rng) { path += "/" }
            var params: [(String, String)] = []
            var usedKeys = Set<String>()
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let key = keyPieces.randomElement(using: &rng)!
                // Botocore presigns from a dict
                if mode == "query" && (usedKeys.contains(key) || key.isEmpty) { continue }
                usedKeys.insert(key)
                params.append((key, valuePieces.randomElement(using: &rng)!))
            }
            var headers: [(String, String)] = []
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let name = headerNames.randomElement(using: &rng)!
                if mode == "query" && name == "Content-Type" { continue }
                headers.append((name, headerValues.randomElement(using: &rng)!))
            }
            let host = hosts.randomElement(using: &rng)!
            if Bool.random(using: &rng) { headers.insert(("Host", host), at: 0) }
            let method = mode == "query" ? "GET" : ["GET", "POST", "PUT", "DELETE"].randomElement(using: &rng)!
            let body: [UInt8] =
                mode == "query" || method == "GET"
                ? [] : (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let (service, region) = services.randomElement(using: &rng)!
            let token: String? = Bool.random(using: &rng) ? "FwoGZXIvYXdzE//token+/=\(i)" : nil
            let credentials = AWSCredentials(
                accessKeyID: "AKIA\(i)", secretAccessKey: "secret/\(i)+key", sessionToken: token)
            let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(i) * 86_399)
            out.append(
                Generated(
                    mode: mode, method: method, host: host, path: path, params: params, headers: headers, body: body,
                    service: service, region: region, credentials: credentials, date: date, expires: 60 + i))
        }
        return out
    }

    @Test func signaturesMatchBotocoreOn1200Requests() throws {
        try #require(
            Python.hasModules("botocore"), "python3 with botocore is not installed: scripts/install-deps.sh installs it"
        )
        let cases = Self.generate(count: 1200, seed: 20_241_122)
        let json = cases.map { c -> [String: Any] in
            var r: [String: Any] = [
                "mode": c.mode, "method": c.method, "url": "https://\(c.host)\(c.path)",
                "headers": c.headers.map { [$0.0, $0.1] }, "params": c.params.map { [$0.0, $0.1] },
                "body": Data(c.body).base64EncodedString(), "service": c.service, "region": c.region,
                "accessKeyId": c.credentials.accessKeyID, "secretAccessKey": c.credentials.secretAccessKey.reveal(),
                "amzDate": AWSTimestamp.amzDate(c.date), "expires": c.expires,
            ]
            if let token = c.credentials.sessionToken { r["sessionToken"] = token.reveal() }
            return r
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "botocore_sign.py")
        let result = try Python.run([script.path], input: try JSONSerialization.data(withJSONObject: json))
        try #require(result.status == 0, "botocore failed: \(result.stderr)")
        let answers = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        try #require(answers.count == cases.count)
        var mismatches = 0
        for (c, answer) in zip(cases, answers) {
            // botocore's host header is the URL's authority; the signer is given it the same way.
            let request = SigV4Request(
                method: c.method, host: c.host, path: c.path, query: c.params, headers: c.headers, body: c.body)
            let signer = SigV4Signer(service: c.service, region: c.region)
            if c.mode == "header" {
                let signed = signer.sign(request, credentials: c.credentials, date: c.date)
                if signed.signature != answer["signature"] as? String
                    || signed.canonicalRequest != answer["canonical"] as? String
                {
                    mismatches += 1
                    if mismatches <= 3 {
                        let theirs = "\(answer["canonical"] ?? "")"
                        let ours = signed.canonicalRequest
                        let request = "\(c.method) \(c.path) \(c.params) \(c.headers)"
                        Issue.record("header \(request):\nours:\n\(ours)\nbotocore:\n\(theirs)")
                    }
                }
            } else {
                let signed = signer.presign(request, credentials: c.credentials, date: c.date, expires: c.expires)
                if signed.signature != answer["signature"] as? String
                    || signed.request.encodedQuery != answer["query"] as? String
                {
                    mismatches += 1
                    if mismatches <= 3 {
                        let theirs = "\(answer["query"] ?? "")"
                        Issue.record(
                            "query \(c.path) \(c.params):\nours: \(signed.request.encodedQuery)\nbotocore: \(theirs)")
                    }
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) requests signed differently")
    }
}
