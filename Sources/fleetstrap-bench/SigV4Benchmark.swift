// Signatures per second: fleetstrap's signer and botocore's, on the same requests, in the same run.
import AWS
import FleetSupport
import Foundation
import SigV4

struct SigV4Benchmark {
    let count = 2000
    let seconds: Double

    struct Result: Codable {
        var benchmark = "sigv4"
        var requests: Int
        var fleetstrapSignaturesPerSecond: Double
        var fleetstrapColdKeySignaturesPerSecond: Double
        var botocoreSignaturesPerSecond: Double
        var ratio: Double
        var note =
            """
            ratio = fleetstrap (warm signing-key cache, as in a fleet run) / botocore; the same 2,000 generated \
            requests
            """
    }

    func requests() -> [(SigV4Request, AWSCredentials, String, String)] {
        var rng = SystemRandomNumberGenerator()
        let services = [("sts", "us-east-1"), ("iam", "us-east-1"), ("eks", "eu-west-1"), ("codecommit", "eu-west-1")]
        return (0..<count).map { i in
            let (service, region) = services[i % services.count]
            let body = Array(
                "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ffleet\(i)".utf8
            )
            let request = SigV4Request(
                method: i % 3 == 0 ? "GET" : "POST", host: "\(service).\(region).amazonaws.com",
                path: "/clusters/prod-\(i)",
                query: i % 3 == 0 ? [("a", "\(i)"), ("b", "x y")] : [],
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                    ("X-Custom", " v \(Int.random(in: 0...9, using: &rng)) "),
                ],
                body: i % 3 == 0 ? [] : body)
            let credentials = AWSCredentials(
                accessKeyID: "AKIA\(i % 5)", secretAccessKey: "secret\(i % 5)", sessionToken: "token\(i % 5)")
            return (request, credentials, service, region)
        }
    }

    func run() throws -> Result {
        let work = requests()
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let warmKeys = SigningKeyCache()
        func measure(coldKeys: Bool) -> Double {
            var signed = 0
            let clock = ContinuousClock()
            let start = clock.now
            var checksum = 0
            while clock.now - start < .seconds(seconds) {
                for (request, credentials, service, region) in work {
                    let signer = SigV4Signer(
                        service: service, region: region, keys: coldKeys ? SigningKeyCache() : warmKeys)
                    checksum &+= signer.sign(request, credentials: credentials, date: date).signature.utf8.count
                    signed += 1
                }
            }
            precondition(checksum > 0)
            return Double(signed) / (clock.now - start).seconds
        }
        let warm = measure(coldKeys: false)
        let cold = measure(coldKeys: true)
        let botocore = try botocoreRate(work, date: date)
        return Result(
            requests: count, fleetstrapSignaturesPerSecond: warm, fleetstrapColdKeySignaturesPerSecond: cold,
            botocoreSignaturesPerSecond: botocore, ratio: warm / botocore)
    }

    /// Signs the same requests with botocore's SigV4Auth for `seconds` and reports its rate.
    func botocoreRate(_ work: [(SigV4Request, AWSCredentials, String, String)], date: Date) throws -> Double {
        let json = work.map { request, credentials, service, region -> [String: Any] in
            let query = request.query.isEmpty ? "" : "?" + request.encodedQuery
            return [
                "method": request.method, "url": "https://\(request.host)\(request.path)\(query)",
                "headers": request.headers.map { [$0.0, $0.1] }, "body": Data(request.body).base64EncodedString(),
                "service": service, "region": region, "key": credentials.accessKeyID,
                "secret": credentials.secretAccessKey.reveal(), "token": credentials.sessionToken?.reveal() ?? "",
            ]
        }
        let script = """
            import base64, datetime, json, sys, time
            import botocore.auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            fixed = datetime.datetime(2023, 11, 14, 22, 13, 20)
            botocore.auth.get_current_datetime = lambda: fixed
            work = json.load(sys.stdin)
            seconds = float(sys.argv[1])
            prepared = [(r, Credentials(r["key"], r["secret"], r["token"] or None), base64.b64decode(r["body"])) for \
            r in work]
            signed = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                for r, creds, body in prepared:
                    request = AWSRequest(method=r["method"], url=r["url"], data=body)
                    for k, v in r["headers"]:
                        request.headers.add_header(k, v)
                    botocore.auth.SigV4Auth(creds, r["service"], r["region"]).add_auth(request)
                    signed += 1
            print(signed / (time.perf_counter() - start))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(seconds)]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: json))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let rate = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw BenchmarkError.peerFailed("botocore") }
        return rate
    }
}

enum BenchmarkError: Error { case peerFailed(String) }
