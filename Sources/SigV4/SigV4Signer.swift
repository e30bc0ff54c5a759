// AWS Signature Version 4: a pure value with no networking, the date injected, each stage named after the
// step of the AWS documentation ("Create a signed AWS API request") it implements.
import FleetCrypto
import FleetSupport
import Foundation
import Synchronization

/// A request as the signer sees it. `path` is as sent on the wire; `query` holds decoded pairs in order.
/// Once signed it carries the signature and session token: it prints as method, host and path only.
public struct SigV4Request: Sendable, CustomStringConvertible, CustomReflectable {
    public var method: String
    public var host: String
    public var path: String
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(
        method: String, host: String, path: String = "/", query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8] = []
    ) {
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    public var description: String { "\(method) \(host)\(path)" }
    public var customMirror: Mirror { Mirror(self, children: ["method": method, "host": host, "path": path]) }

    /// The query as it goes on the wire, strictly encoded.
    public var encodedQuery: String { PercentEncoding.query(query) }
}

/// What signing produced: the request to send, and the intermediate values (for tests and debugging).
public struct SignedRequest: Sendable {
    public var request: SigV4Request
    public var canonicalRequest: String
    public var stringToSign: String
    public var signature: String
}

public struct SigV4Signer: Sendable {
    public let service: String
    public let region: String
    /// Remove dot segments and collapse `//` (every service but S3).
    public var normalizePath = true
    /// Add `x-amz-content-sha256` with the body hash (S3 style).
    public var signBody = false
    /// Add `X-Amz-Security-Token` after signing instead of signing it (a few legacy services).
    public var omitSessionToken = false
    private let keys: SigningKeyCache

    /// Headers never signed: they change in transit or belong to the connection (botocore's list, plus authorization).
    static let unsignedHeaders: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    ]
    static let algorithm = "AWS4-HMAC-SHA256"
    static let emptyBodyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(service: String, region: String, keys: SigningKeyCache = SigningKeyCache()) {
        self.service = service
        self.region = region
        self.keys = keys
    }

    // MARK: Header signing

    /// Signs with the `Authorization` header, adding `X-Amz-Date` (and `X-Amz-Security-Token`).
    public func sign(_ request: SigV4Request, credentials: AWSCredentials, date: Date) -> SignedRequest {
        let amzDate = AWSTimestamp.amzDate(date)
        var request = request
        request.headers.removeAll {
            let name = $0.0.lowercased()
            return name == "authorization" || name == "x-amz-date"
                || (credentials.sessionToken != nil && name == "x-amz-security-token")
        }
        if !request.headers.contains(where: { $0.0.lowercased() == "host" }) {
            request.headers.insert(("Host", request.host), at: 0)
        }
        request.headers.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken, !omitSessionToken {
            request.headers.append(("X-Amz-Security-Token", token.reveal()))
        }
        let bodyHash = SHA256.hash(request.body).hexString
        if signBody { request.headers.append(("x-amz-content-sha256", bodyHash)) }

        let (canonicalHeaders, signedHeaders) = canonicalize(headers: request.headers)
        let canonicalRequest = [
            request.method.uppercased(), canonicalURI(request.path), canonicalQuery(request.query),
            canonicalHeaders, signedHeaders, bodyHash,
        ].joined(separator: "\n")
        let (stringToSign, signature) = finish(canonicalRequest, amzDate: amzDate, credentials: credentials)
        let scope = "\(credentials.accessKeyID)/\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        request.headers.append(
            (
                "Authorization",
                "\(Self.algorithm) Credential=\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
            ))
        if let token = credentials.sessionToken, omitSessionToken {
            request.headers.append(("X-Amz-Security-Token", token.reveal()))
        }
        return SignedRequest(
            request: request, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    // MARK: Presigning

    /// Signs in the query string (a presigned URL), valid for `expires` seconds. Parameters are ordered as botocore
    /// orders them: the request's own, then X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
    /// -Security-Token, and X-Amz-Signature last.
    public func presign(_ request: SigV4Request, credentials: AWSCredentials, date: Date, expires: Int) -> SignedRequest
    {
        let amzDate = AWSTimestamp.amzDate(date)
        var request = request
        if !request.headers.contains(where: { $0.0.lowercased() == "host" }) {
            request.headers.insert(("Host", request.host), at: 0)
        }
        let (canonicalHeaders, signedHeaders) = canonicalize(headers: request.headers)
        request.query += [
            ("X-Amz-Algorithm", Self.algorithm),
            ("X-Amz-Credential", "\(credentials.accessKeyID)/\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"),
            ("X-Amz-Date", amzDate),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", signedHeaders),
        ]
        if let token = credentials.sessionToken, !omitSessionToken {
            request.query.append(("X-Amz-Security-Token", token.reveal()))
        }
        let bodyHash = signBody ? SHA256.hash(request.body).hexString : Self.emptyBodyHash
        let canonicalRequest = [
            request.method.uppercased(), canonicalURI(request.path), canonicalQuery(request.query),
            canonicalHeaders, signedHeaders, bodyHash,
        ].joined(separator: "\n")
        let (stringToSign, signature) = finish(canonicalRequest, amzDate: amzDate, credentials: credentials)
        request.query.append(("X-Amz-Signature", signature))
        if let token = credentials.sessionToken, omitSessionToken {
            request.query.append(("X-Amz-Security-Token", token.reveal()))
        }
        return SignedRequest(
            request: request, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    // MARK: Steps

    /// Step 1, canonical URI: dot segments removed and `//` collapsed (unless S3-style), then each byte outside the
    /// unreserved set encoded once more, `/` kept. A path already encoded on the wire is encoded again, as botocore
    /// does.
    func canonicalURI(_ path: String) -> String {
        var path = path.isEmpty ? "/" : path
        if normalizePath { path = Self.removeDotSegments(path) }
        return PercentEncoding.encode(path, keeping: UInt8(ascii: "/"))
    }

    /// RFC 3986 §5.2.4 plus the collapsing of empty segments AWS requires; keeps a trailing slash.
    static func removeDotSegments(_ path: String) -> String {
        var output: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                _ = output.popLast()
                continue
            }
            output.append(segment)
        }
        let leading = path.hasPrefix("/") ? "/" : ""
        let trailing = path.hasSuffix("/") && !output.isEmpty ? "/" : ""
        return leading + output.joined(separator: "/") + trailing
    }

    /// Step 1, canonical query: each key and value strictly encoded, sorted by key, then value.
    func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (PercentEncoding.encode($0.0), PercentEncoding.encode($0.1)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Step 1, canonical headers: lowercase names, values trimmed with inner whitespace collapsed, repeated headers
    /// joined with `,` in the order they came, sorted by name; and the signed header list.
    func canonicalize(headers: [(String, String)]) -> (canonical: String, signed: String) {
        var values: [String: String] = [:]
        values.reserveCapacity(headers.count)
        for (name, value) in headers {
            let lower = Self.trimAll(name.lowercased())
            guard !Self.unsignedHeaders.contains(lower) else { continue }
            let trimmed = Self.trimAll(value)
            if let existing = values[lower] {
                values[lower] = existing + "," + trimmed
            } else {
                values[lower] = trimmed
            }
        }
        let names = values.keys.sorted()
        var canonical = ""
        for name in names {
            canonical += name
            canonical += ":"
            canonical += values[name]!
            canonical += "\n"
        }
        return (canonical, names.joined(separator: ";"))
    }

    /// Trims and collapses runs of ASCII whitespace (including folded line breaks) to one space.
    static func trimAll(_ value: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for c in value.utf8 {
            switch c {
            case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D:
                pendingSpace = !out.isEmpty
            default:
                if pendingSpace {
                    out.append(0x20)
                    pendingSpace = false
                }
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Steps 2 to 4: string to sign, signing key (cached), signature.
    private func finish(_ canonicalRequest: String, amzDate: String, credentials: AWSCredentials) -> (String, String) {
        let day = String(amzDate.prefix(8))
        let stringToSign = [
            Self.algorithm, amzDate, "\(day)/\(region)/\(service)/aws4_request",
            SHA256.hash(canonicalRequest).hexString,
        ].joined(separator: "\n")
        let key = keys.key(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        return (stringToSign, HMACSHA256.authenticate(stringToSign, key: key).hexString)
    }
}

/// Signing keys depend only on (secret, day, region, service): derive each once and keep it.
public final class SigningKeyCache: Sendable {
    private struct Scope: Hashable {
        let secret: Secret, day: String, region: String, service: String
    }
    private let keys = Mutex<[Scope: [UInt8]]>([:])
    /// Keys of other days are dropped when the cache grows past this.
    private let limit = 4096

    public init() {}

    func key(secret: Secret, day: String, region: String, service: String) -> [UInt8] {
        let scope = Scope(secret: secret, day: day, region: region, service: service)
        if let key = keys.withLock({ $0[scope] }) { return key }
        let kDate = HMACSHA256.authenticate(day, key: Array("AWS4\(secret.reveal())".utf8))
        let kRegion = HMACSHA256.authenticate(region, key: kDate)
        let kService = HMACSHA256.authenticate(service, key: kRegion)
        let kSigning = HMACSHA256.authenticate("aws4_request", key: kService)
        keys.withLock { cache in
            if cache.count >= limit { cache = cache.filter { $0.key.day == day } }
            cache[scope] = kSigning
        }
        return kSigning
    }
}
