// What the HTTP client sends and receives.

/// Which certificate authorities a request trusts. Verification is never switched off.
public enum TLSTrust: Sendable, Hashable {
    /// The system's CA store.
    case system
    /// These PEM certificates only (a private CA: the lab, `AWS_CA_BUNDLE`, an EKS cluster's CA).
    case pem([UInt8])
}

/// Prints as method and URL without query: headers (Authorization, tokens) and presigned queries stay out of logs.
public struct HTTPRequest: Sendable, CustomStringConvertible, CustomReflectable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The whole transfer, including queueing for a connection.
    public var timeout: Duration
    public var connectTimeout: Duration
    public var trust: TLSTrust
    /// Follow up to five redirects (release downloads); off for API calls, whose signatures cover the URL.
    public var followRedirects = false
    /// Connections of this server's own, closed with the pool; nil: the process-wide cache.
    public var pool: HTTPConnectionPool?

    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(10), trust: TLSTrust = .system,
        pool: HTTPConnectionPool? = nil
    ) {
        self.pool = pool
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.trust = trust
    }

    public var description: String { "\(method) \(redactedURL)" }
    public var customMirror: Mirror { Mirror(self, children: ["method": method, "url": redactedURL]) }

    /// The URL without its query string or user info, for messages: presigned URLs carry tokens.
    public var redactedURL: String { HTTPRequest.redact(url) }

    static func redact(_ url: String) -> String {
        var text = Substring(url)
        if let q = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<q] }
        if let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@"),
            !text[scheme.upperBound..<at].contains("/")
        {
            text = text[..<scheme.upperBound] + text[text.index(after: at)...]
        }
        return String(text)
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The HTTP version the server answered with (`1.1`, `2`).
    public var httpVersion: String

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], httpVersion: String = "1.1") {
        self.status = status
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
