// Bearer tokens as an EKS API server checks them (aws-iam-authenticator's rules): `k8s-aws-v1.` + base64url of a
// presigned STS GetCallerIdentity URL, for this cluster, within 15 minutes of its signing, signed with credentials
// STS knows. The identity it proves is then mapped to cluster access.
import FleetSupport
import Foundation
import SigV4
import Synchronization

public struct EKSTokenVerifier: Sendable {
    let state: LabState
    /// Tokens already proven, per cluster, with their signing time: a client sends the same token on every request
    /// for up to 15 minutes, and an API server does not check its signature again each time (the fleet benchmark
    /// found the lab spending half its time doing so). Still refused once expired.
    private let accepted = AcceptedTokens()
    /// The lab's own STS host; the partitions' (`sts.amazonaws.com`, `sts.<region>.amazonaws.com[.cn]`) match a
    /// pattern.
    let labSTSHost: String
    static let window: TimeInterval = 15 * 60
    static let maximumLength = 4096
    static let allowedParameters: Set<String> = [
        "Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
    ]

    public init(state: LabState, labSTSHost: String) {
        self.state = state
        self.labSTSHost = labSTSHost
    }

    func isSTSHost(_ host: String) -> Bool {
        host == labSTSHost
            || host.wholeMatch(of: /sts(\.[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+)?\.amazonaws\.com(\.cn)?/) != nil
    }

    /// The region an AWS STS host signs for: its own, or us-east-1 for the global endpoint; nil for the lab's host.
    func region(ofSTSHost host: String) -> String? {
        guard host != labSTSHost else { return nil }
        let parts = host.split(separator: ".")
        return parts.count >= 4 && parts[0] == "sts" ? String(parts[1]) : "us-east-1"
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case wrongCluster
        case expired
        case signature(String)

        public var description: String {
            switch self {
            case .malformed(let why): "input token was not properly formatted: \(why)"
            case .wrongCluster:
                "input token was not properly formatted: X-Amz-SignedHeaders does not sign this cluster's name"
            case .expired: "input token was not properly formatted: the token is older than 15 minutes"
            case .signature(let why): "error from AWS (expected 200, got 403): \(why)"
            }
        }
    }

    /// The caller's identity (its ARN, and for a role session the role ARN) if the token is good for `cluster`.
    public func verify(token: String, cluster: String) -> Result<LabState.Identity, Refusal> {
        if let known = accepted.entries.withLock({ $0["\(cluster) \(token)"] }),
            known.identity.expiration.map({ state.now() < $0 }) ?? true
        {
            guard state.now().timeIntervalSince(known.signed) <= Self.window else { return .failure(.expired) }
            return .success(known.identity)
        }
        guard token.utf8.count <= Self.maximumLength else { return .failure(.malformed("token is too large")) }
        guard token.hasPrefix(EKSToken.prefix) else { return .failure(.malformed("missing prefix \(EKSToken.prefix)")) }
        guard let bytes = Base64URL.decode(token.dropFirst(EKSToken.prefix.count)) else {
            return .failure(.malformed("not base64url"))
        }
        let url = String(decoding: bytes, as: UTF8.self)
        guard url.hasPrefix("https://") else { return .failure(.malformed("unexpected scheme")) }
        let rest = url.dropFirst("https://".count)
        guard let slash = rest.firstIndex(of: "/") else { return .failure(.malformed("no path")) }
        let host = String(rest[..<slash])
        guard isSTSHost(host) else { return .failure(.malformed("unexpected hostname \(host)")) }

        let target = String(rest[slash...])
        let request = LabRequest(
            method: "GET", target: target, headers: [("Host", host), ("x-k8s-aws-id", cluster)], body: [])
        guard request.path == "/" else { return .failure(.malformed("unexpected path \(request.path)")) }
        // STS at that host signs for its own region (the global endpoint for us-east-1): a token scoped to another
        // region fails there, as aws-iam-authenticator learns when it forwards the request.
        if let hostRegion = region(ofSTSHost: host), let scope = LabSigV4Verifier.scope(of: request),
            scope.region != hostRegion
        {
            return .failure(.signature("Credential should be scoped to a valid region, not '\(scope.region)'. "))
        }
        var seen = Set<String>()
        for (key, _) in request.query {
            guard Self.allowedParameters.contains(key) else {
                return .failure(.malformed("non-whitelisted query parameter \(key)"))
            }
            guard seen.insert(key).inserted else { return .failure(.malformed("query parameter \(key) appears twice")) }
        }
        func value(_ key: String) -> String? { request.query.first { $0.0 == key }?.1 }
        guard value("Action") == "GetCallerIdentity" else { return .failure(.malformed("unexpected action")) }
        guard let signed = value("X-Amz-SignedHeaders"), signed.split(separator: ";").contains("x-k8s-aws-id") else {
            return .failure(.wrongCluster)
        }
        guard let expiresText = value("X-Amz-Expires"), let expires = Int(expiresText), (0...900).contains(expires)
        else {
            return .failure(.malformed("X-Amz-Expires must be 0 to 900"))
        }
        guard let dateText = value("X-Amz-Date"), let date = AWSTimestamp.parseAmzDate(dateText) else {
            return .failure(.malformed("no X-Amz-Date"))
        }
        // The token is good for 15 minutes after signing, whatever X-Amz-Expires says.
        guard state.now().timeIntervalSince(date) <= Self.window, date.timeIntervalSince(state.now()) <= 5 * 60 else {
            return .failure(.expired)
        }
        switch LabSigV4Verifier(state: state).verifyPresignedIgnoringExpiry(request) {
        case .success(let caller):
            accepted.entries.withLock { entries in
                if entries.count >= AcceptedTokens.capacity { entries.removeAll() }
                entries["\(cluster) \(token)"] = (caller.identity, date)
            }
            return .success(caller.identity)
        case .failure(.signatureMismatch):
            return .failure(.signature("the signature does not match (is the token for this cluster?)"))
        case .failure(let other): return .failure(.signature("\(other)"))
        }
    }
}

private final class AcceptedTokens: Sendable {
    static let capacity = 50_000
    let entries = Mutex<[String: (identity: LabState.Identity, signed: Date)]>([:])
}
