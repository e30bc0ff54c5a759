// The libcurl client against a local peer: methods, headers, bodies, TLS with an in-memory CA, timeouts,
// cancellation, many requests in flight.
import Foundation
import TestSupport
import Testing

@testable import HTTP

@Suite("HTTP client", .serialized)
struct HTTPClientTests {
    let client = HTTPClient.shared

    func echo(_ response: HTTPResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    @Test func methodsHeadersAndBodies() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "20"], lifetime: 60)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"
        let get = try await client.execute(HTTPRequest(url: "\(base)/echo?a=1", headers: [("X-Custom", "v  w")]))
        #expect(get.status == 200)
        let g = try echo(get)
        #expect(g["method"] as? String == "GET")
        #expect(g["query"] as? String == "a=1")
        let headers = (g["headers"] as? [[String]]) ?? []
        #expect(headers.contains(["X-Custom", "v  w"]))
        #expect(!headers.contains { $0[0].lowercased() == "expect" })

        let body = Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)
        let post = try await client.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/echo", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: body))
        let p = try echo(post)
        #expect(p["method"] as? String == "POST")
        #expect(Data(base64Encoded: p["body"] as? String ?? "") == Data(body))

        for method in ["PUT", "DELETE", "PATCH"] {
            let r = try await client.execute(
                HTTPRequest(method: method, url: "\(base)/echo", body: method == "DELETE" ? [] : [1, 2, 3]))
            #expect(try echo(r)["method"] as? String == method)
        }
        let notFound = try await client.execute(HTTPRequest(url: "\(base)/status/503"))
        #expect(notFound.status == 503)
        #expect(notFound.header("content-type") == "text/plain")
    }

    @Test func tlsTrustsOnlyTheGivenCA() async throws {
        let server = try PeerServer(tls: true, arguments: ["--max-requests", "10"], lifetime: 60)
        defer { server.stop() }
        for host in ["127.0.0.1", "localhost"] {
            let ok = try await client.execute(
                HTTPRequest(url: "https://\(host):\(server.port)/status/200", trust: .pem(server.certificatePEM)))
            #expect(ok.status == 200)
        }
        await #expect {
            _ = try await client.execute(HTTPRequest(url: "https://127.0.0.1:\(server.port)/status/200"))
        } throws: { error in
            (error as? HTTPClientError)?.isCertificateProblem == true
        }
        let other = try PeerServer(tls: true, arguments: ["--max-requests", "1"], lifetime: 30)
        defer { other.stop() }
        await #expect {
            _ = try await client.execute(
                HTTPRequest(url: "https://127.0.0.1:\(server.port)/status/200", trust: .pem(other.certificatePEM)))
        } throws: { error in
            (error as? HTTPClientError)?.isCertificateProblem == true
        }
    }

    @Test func timeoutsAndConnectionErrorsAreTypedAndRedacted() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "5"], lifetime: 60)
        defer { server.stop() }
        await #expect {
            _ = try await client.execute(
                HTTPRequest(
                    url: "http://127.0.0.1:\(server.port)/slow?seconds=3&X-Amz-Security-Token=secret",
                    timeout: .milliseconds(300)))
        } throws: { error in
            guard let e = error as? HTTPClientError else { return false }
            return e.isTimeout && e.isRetryable && !e.description.contains("secret")
                && e.description.hasPrefix("http://127.0.0.1:\(server.port)/slow:")
        }
        // A port nobody listens on: the server's own port after it stopped.
        let closed = try PeerServer(arguments: ["--max-requests", "1"], lifetime: 1)
        let port = closed.port
        closed.stop()
        await #expect {
            _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/", connectTimeout: .seconds(2)))
        } throws: { error in
            (error as? HTTPClientError)?.isRetryable == true
        }
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "5"], lifetime: 60)
        defer { server.stop() }
        let started = ContinuousClock.now
        let task = Task {
            try await client.execute(
                HTTPRequest(url: "http://127.0.0.1:\(server.port)/slow?seconds=10", timeout: .seconds(30)))
        }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        // Functional, not a timing assertion: it ended long before the server's 10 s answer.
        #expect(ContinuousClock.now - started < .seconds(9))
    }

    /// Cancelled at every moment around its submission (before, during, just after), a request to a server that
    /// never answers ends as cancelled, never at its timeout: a cancel handler that runs before the transfer is
    /// queued is not lost.
    @Test func cancellationAtAnyMomentIsNeverLost() async throws {
        let listener = try SilentListener(backlog: 1024)
        defer { withExtendedLifetime(listener) {} }
        let port = listener.port
        var random = SplitMix64(seed: 0xCA11_CE1)
        var lost: [String] = []
        for round in 0..<300 {
            let yields = Int(random.next() % 4)
            let request = HTTPRequest(url: "http://127.0.0.1:\(port)/never", timeout: .seconds(20))
            let task = Task { [client] in try await client.execute(request) }
            for _ in 0..<yields { await Task.yield() }
            // From another thread, so the handler races the submission itself.
            Thread.detachNewThread { task.cancel() }
            do {
                _ = try await task.value
                lost.append("round \(round): answered")
            } catch is CancellationError {
            } catch {
                lost.append("round \(round): \(error)")
            }
        }
        #expect(lost.isEmpty, "\(lost.prefix(3))")

        // The narrow moment itself, placed: cancelled after the handler is installed and before the transfer is
        // queued, with the loop given time to drain the cancellation it heard of. It still ends as cancelled.
        var configuration = HTTPClient.Configuration()
        configuration.beforeQueueing = {
            withUnsafeCurrentTask { $0?.cancel() }
            usleep(100_000)
        }
        let placed = HTTPClient(configuration: configuration)
        defer { placed.shutdown() }
        await #expect(throws: CancellationError.self) {
            _ = try await placed.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/never", timeout: .seconds(20)))
        }
    }

    @Test func manyConcurrentRequestsShareOneLoop() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "600"], lifetime: 120)
        defer { server.stop() }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<500 {
                group.addTask {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(server.port)/big?bytes=\(i)")).body
                        .count
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.sorted() == Array(0..<500))
    }

    @Test func requestsPrintWithoutCredentials() {
        let request = HTTPRequest(
            url: "https://sts.amazonaws.com/?X-Amz-Security-Token=secret-token",
            headers: [("Authorization", "AWS4 secret-signature")])
        var dumped = ""
        dump(request, to: &dumped)
        for text in ["\(request)", String(reflecting: request), dumped] {
            #expect(!text.contains("secret-token") && !text.contains("secret-signature"))
        }
        #expect("\(request)" == "GET https://sts.amazonaws.com/")
    }

    @Test(arguments: [
        ("X-Token", "a\r\nInjected: yes"), ("X-Token", "a\nInjected: yes"), ("X-Token", "a\rb"), ("X-Bad\r\nName", "v"),
        ("X-Bad:Name", "v"),
    ])
    func headersThatWouldSplitTheRequestAreRefused(_ name: String, _ value: String) async {
        // Refused before any connection: nothing listens on port 9.
        await #expect {
            _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:9/", headers: [(name, value)]))
        } throws: { error in
            (error as? HTTPClientError)?.errorClass == "http.invalid-request"
        }
    }

    @Test func shutdownFailsPendingWork() async throws {
        let own = HTTPClient()
        own.shutdown()
        await #expect {
            _ = try await own.execute(HTTPRequest(url: "http://127.0.0.1:9/"))
        } throws: { error in
            (error as? HTTPClientError)?.errorClass == "http.shutdown"
        }
    }
}

@Suite("HTTP client errors")
struct HTTPClientErrorClassTests {
    @Test func aHandshakeCutOffByTheNetworkIsRetriedAndOneRejectedIsATLSProblem() {
        // CURLE_SSL_CONNECT_ERROR covers both; only the first is worth another try, only the second is about TLS.
        let reset = HTTPClientError.transport(
            35, url: "https://api.example/version", detail: "Recv failure: Connection reset by peer")
        #expect(reset.isRetryable && !reset.isCertificateProblem && reset.errorClass == "http.transport.35")
        let eof = HTTPClientError.transport(
            35, url: "https://api.example/version",
            detail: "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to api.example:443")
        #expect(eof.isRetryable && !eof.isCertificateProblem)
        let rejected = HTTPClientError.transport(
            35, url: "https://api.example/version", detail: "error:0A000410:SSL routines::sslv3 alert handshake failure"
        )
        #expect(!rejected.isRetryable && rejected.isCertificateProblem && rejected.errorClass == "http.tls")
        let unverified = HTTPClientError.transport(
            60, url: "https://api.example/version",
            detail: "SSL certificate problem: unable to get local issuer certificate")
        #expect(!unverified.isRetryable && unverified.isCertificateProblem)
    }
}

/// A connection pool keeps its server's connections for its own requests and closes them when it goes.
@Suite("HTTP client: connection pools", .serialized)
struct HTTPConnectionPoolTests {
    let client = HTTPClient.shared

    func text(_ request: HTTPRequest) async throws -> String {
        let response = try await client.execute(request)
        #expect(response.status == 200)
        return String(decoding: response.body, as: UTF8.self)
    }

    @Test func aPoolReusesItsConnectionsAndClosesThemWhenItGoes() async throws {
        let server = try PeerServer(arguments: ["--max-requests", "80"], lifetime: 60)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"
        var first: HTTPConnectionPool? = HTTPConnectionPool()
        let second = HTTPConnectionPool()
        let port = try await text(HTTPRequest(url: "\(base)/port", pool: first))
        #expect(
            try await text(HTTPRequest(url: "\(base)/port", pool: first)) == port, "the pool's connection is reused")
        let other = try await text(HTTPRequest(url: "\(base)/port", pool: second))
        #expect(other != port, "another pool has connections of its own")

        first = nil
        // The server sees the first pool's connection close (asked at most 50 times, 0.1 s apart).
        var open: [Int] = []
        for _ in 0..<50 {
            open = try JSONDecoder().decode(
                [Int].self, from: Data(try await text(HTTPRequest(url: "\(base)/connections", pool: second)).utf8))
            if !open.contains(Int(port) ?? -1) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!open.contains(Int(port) ?? -1), "the dropped pool's connection is still open: \(open)")
        #expect(open.contains(Int(other) ?? -1), "the live pool's connection is kept")
    }

    /// A pool parses its server's CA once for all its connections; a connection verified against it is never
    /// handed to a request of the same pool that trusts another CA (or the system's).
    @Test func aPoolVerifiesAgainstItsCAAndKeepsOtherTrustApart() async throws {
        let server = try PeerServer(tls: true, arguments: ["--max-requests", "20"], lifetime: 60)
        defer { server.stop() }
        let other = try PeerServer(tls: true, arguments: ["--max-requests", "1"], lifetime: 30)
        defer { other.stop() }
        let url = "https://127.0.0.1:\(server.port)/port"
        let pool = HTTPConnectionPool()
        let port = try await text(HTTPRequest(url: url, trust: .pem(server.certificatePEM), pool: pool))
        #expect(
            try await text(HTTPRequest(url: url, trust: .pem(server.certificatePEM), pool: pool)) == port,
            "the verified connection is reused")
        for trust in [TLSTrust.pem(other.certificatePEM), .system] {
            await #expect {
                _ = try await client.execute(HTTPRequest(url: url, trust: trust, pool: pool))
            } throws: { error in
                (error as? HTTPClientError)?.isCertificateProblem == true
            }
        }
        // The pool trusts the PEM it was first asked for; a pool first asked for another CA refuses this server.
        let wrong = HTTPConnectionPool()
        await #expect {
            _ = try await client.execute(HTTPRequest(url: url, trust: .pem(other.certificatePEM), pool: wrong))
        } throws: { error in
            (error as? HTTPClientError)?.isCertificateProblem == true
        }
        #expect(
            try await text(HTTPRequest(url: url, trust: .pem(server.certificatePEM), pool: wrong)) != "",
            "its own CA still works there")
        // A PEM without a certificate is refused, not taken for "trust nothing in particular".
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(
                HTTPRequest(url: url, trust: .pem(Array("no certificate here".utf8)), pool: HTTPConnectionPool()))
        }
    }
}
