// The services fleetstrap speaks to, their signing names, endpoints and default rate limits.

public struct AWSService: Sendable, Hashable {
    /// The signing name and the `AWS_ENDPOINT_URL_<ID>` suffix.
    public let signingName: String
    public let endpointID: String
    /// Requests a second (and burst) fleetstrap allows itself per account and region: below AWS's quotas, so a
    /// fleet run never trips them. Overridable per run.
    public let defaultRate: Double

    public static let sts = AWSService(signingName: "sts", endpointID: "STS", defaultRate: 50)
    public static let iam = AWSService(signingName: "iam", endpointID: "IAM", defaultRate: 10)
    public static let eks = AWSService(signingName: "eks", endpointID: "EKS", defaultRate: 10)
    public static let codecommit = AWSService(signingName: "codecommit", endpointID: "CODECOMMIT", defaultRate: 10)

    /// IAM is global: one endpoint per partition, signed in its home region.
    public var isGlobal: Bool { self == .iam }

    static func partitionSuffix(_ region: String) -> String {
        region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
    }

    /// The signing region for a request made "in" `region`.
    func signingRegion(for region: String) -> String {
        guard isGlobal else { return region }
        if region.hasPrefix("cn-") { return "cn-north-1" }
        if region.hasPrefix("us-gov-") { return "us-gov-west-1" }
        return "us-east-1"
    }

    /// AWS's own endpoint for the service in `region`.
    func defaultEndpoint(region: String) -> String {
        let suffix = Self.partitionSuffix(region)
        switch self {
        case .iam:
            if region.hasPrefix("cn-") { return "https://iam.cn-north-1.amazonaws.com.cn" }
            if region.hasPrefix("us-gov-") { return "https://iam.us-gov.amazonaws.com" }
            return "https://iam.amazonaws.com"
        default:
            return "https://\(signingName).\(region).\(suffix)"
        }
    }
}

/// Endpoints, after the standard overrides: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then AWS's.
public struct AWSEndpoints: Sendable {
    var overrides: [String: String]
    var global: String?

    public init(environment: [String: String]) {
        var overrides: [String: String] = [:]
        for service in [AWSService.sts, .iam, .eks, .codecommit] {
            if let url = environment["AWS_ENDPOINT_URL_\(service.endpointID)"], !url.isEmpty {
                overrides[service.endpointID] = url
            }
        }
        self.overrides = overrides
        self.global = environment["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func url(for service: AWSService, region: String) -> String {
        var url = overrides[service.endpointID] ?? global ?? service.defaultEndpoint(region: region)
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The STS host an EKS token presigns for: `sts.<region>.amazonaws.com`, or the override's host.
    public func stsHost(region: String) -> String {
        let url = self.url(for: .sts, region: region)
        return URLParts(url)?.hostAndPort ?? "sts.\(region).amazonaws.com"
    }
}

/// scheme://host[:port]/path split without Foundation's URL (which rejects some hosts AWS accepts).
struct URLParts {
    var scheme: String
    var host: String
    var port: Int?
    var path: String

    init?(_ text: String) {
        guard let sep = text.range(of: "://") else { return nil }
        scheme = String(text[..<sep.lowerBound]).lowercased()
        let rest = text[sep.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "" : String(rest[slash...])
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
    }

    /// `host` or `host:port`, without a default port (as the Host header and SigV4 want it).
    var hostAndPort: String {
        guard let port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) else { return host }
        return "\(host):\(port)"
    }
}
