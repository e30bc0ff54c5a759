// Verifies AWS Signature Version 4 the way AWS does: find the credentials by access key id, recompute the
// signature over what was received, compare; check the session token, expiry and clock skew.
import FleetSupport
import Foundation
import SigV4

public struct LabSigV4Verifier: Sendable {
    let state: LabState
    /// AWS accepts requests dated within 15 minutes of its clock.
    static let skew: TimeInterval = 15 * 60

    public struct Caller: Sendable {
        public let identity: LabState.Identity
        public let region: String
        public let service: String
    }

    public enum Failure: Error, Equatable {
        case missing
        case unknownKey
        case signatureMismatch
        case expiredToken
        case requestExpired(String)
        case malformed(String)
        /// The credential scope names a region the endpoint does not sign for (AWS answers SignatureDoesNotMatch).
        case invalidScope(String)
    }

    /// AWS's answer when `host` is not among the signed headers.
    static let hostUnsigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."

    /// Why AWS would refuse a signature scoped to `region` for `service` at the lab's endpoint, which stands for
    /// every service's regional endpoint, and for IAM's global one (signed for us-east-1 in the aws partition).
    public static func scopeProblem(region: String, service: String) -> String? {
        guard isRegion(region), service != "iam" || region == "us-east-1" else {
            return "Credential should be scoped to a valid region, not '\(region)'. "
        }
        return nil
    }

    /// A region's shape as AWS names them (`eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`).
    static func isRegion(_ text: String) -> Bool {
        text.wholeMatch(
            of:
                #/
                (af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?
                -(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?
                /#
        ) != nil
    }

    /// The signing service named in the request (from the Authorization header or X-Amz-Credential), if any.
    static func scope(of request: LabRequest) -> (accessKey: String, day: String, region: String, service: String)? {
        let credential: String?
        if let auth = request.header("Authorization"), auth.hasPrefix("AWS4-HMAC-SHA256 ") {
            credential = Self.parameter("Credential", in: auth)
        } else {
            credential = request.query.first { $0.0 == "X-Amz-Credential" }?.1
        }
        guard let parts = credential?.split(separator: "/"), parts.count == 5, parts[4] == "aws4_request" else {
            return nil
        }
        return (String(parts[0]), String(parts[1]), String(parts[2]), String(parts[3]))
    }

    /// The value of `name=` in a SigV4 Authorization header: up to the next comma or space. By hand: a regex
    /// literal is compiled again on every evaluation (three a request were 1% of the lab's CPU).
    static func parameter(_ name: String, in header: String) -> String? {
        var rest = Substring(header)
        while let range = rest.range(of: name + "=") {
            let before = rest[..<range.lowerBound].last
            if before == nil || before == " " || before == "," {
                let value = rest[range.upperBound...].prefix { $0 != "," && !$0.isWhitespace }
                return value.isEmpty ? nil : String(value)
            }
            rest = rest[range.upperBound...]
        }
        return nil
    }

    public func verify(_ request: LabRequest) -> Result<Caller, Failure> {
        if let auth = request.header("Authorization"), auth.hasPrefix("AWS4-HMAC-SHA256 ") {
            return verifyHeader(request, authorization: auth)
        }
        if request.query.contains(where: { $0.0 == "X-Amz-Signature" }) { return verifyPresigned(request) }
        return .failure(.missing)
    }

    private func lookUp(_ accessKey: String, token: String?) -> Result<LabState.Identity, Failure> {
        guard let identity = state.identity(accessKeyID: accessKey) else { return .failure(.unknownKey) }
        if let expected = identity.sessionToken {
            guard token == expected else { return .failure(.unknownKey) }
            if let expiration = identity.expiration, expiration < state.now() { return .failure(.expiredToken) }
        }
        return .success(identity)
    }

    private func verifyHeader(_ request: LabRequest, authorization: String) -> Result<Caller, Failure> {
        guard let scope = Self.scope(of: request),
            let signed = Self.parameter("SignedHeaders", in: authorization),
            let signature = Self.parameter("Signature", in: authorization),
            signature.utf8.count == 64,
            signature.utf8.allSatisfy({
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }),
            let amzDate = request.header("X-Amz-Date"), let date = AWSTimestamp.parseAmzDate(amzDate)
        else { return .failure(.malformed("the Authorization header is not a SigV4 header")) }
        let identity: LabState.Identity
        switch lookUp(scope.accessKey, token: request.header("X-Amz-Security-Token")) {
        case .failure(let f): return .failure(f)
        case .success(let i): identity = i
        }
        guard abs(date.timeIntervalSince(state.now())) <= Self.skew else {
            return .failure(
                .requestExpired(
                    "Signature expired: \(amzDate) is now earlier or later than 15 minutes from the server's time"))
        }
        guard amzDate.hasPrefix(scope.day) else { return .failure(.signatureMismatch) }
        let names = Set(signed.split(separator: ";").map(String.init))
        guard names.contains("host") else { return .failure(.malformed(Self.hostUnsigned)) }
        if let problem = Self.scopeProblem(region: scope.region, service: scope.service) {
            return .failure(.invalidScope(problem))
        }
        let headers = request.headers.filter { names.contains($0.0.lowercased()) }
        let sigRequest = SigV4Request(
            method: request.method, host: request.header("Host") ?? "", path: request.path, query: request.query,
            headers: headers, body: request.body)
        var signer = SigV4Signer(service: scope.service, region: scope.region, keys: state.signingKeys)
        signer.omitSessionToken = !names.contains("x-amz-security-token")
        let credentials = AWSCredentials(
            accessKeyID: identity.accessKeyID, secretAccessKey: identity.secret, sessionToken: identity.sessionToken)
        let expected = signer.sign(sigRequest, credentials: credentials, date: date)
        guard expected.signature == signature else { return .failure(.signatureMismatch) }
        return .success(Caller(identity: identity, region: scope.region, service: scope.service))
    }

    /// Presigned verification without the X-Amz-Expires check: EKS tokens carry 60 but are good for 15 minutes,
    /// which the token verifier checks itself.
    func verifyPresignedIgnoringExpiry(_ request: LabRequest) -> Result<Caller, Failure> {
        verifyPresigned(request, checkExpiry: false)
    }

    private func verifyPresigned(_ request: LabRequest, checkExpiry: Bool = true) -> Result<Caller, Failure> {
        let query = request.query
        func value(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        guard let scope = Self.scope(of: request), value("X-Amz-Algorithm") == "AWS4-HMAC-SHA256",
            let amzDate = value("X-Amz-Date"), let date = AWSTimestamp.parseAmzDate(amzDate),
            let expiresText = value("X-Amz-Expires"), let expires = Int(expiresText),
            let signed = value("X-Amz-SignedHeaders"), let signature = value("X-Amz-Signature")
        else { return .failure(.malformed("the query is not a SigV4 presigned query")) }
        let identity: LabState.Identity
        switch lookUp(scope.accessKey, token: value("X-Amz-Security-Token")) {
        case .failure(let f): return .failure(f)
        case .success(let i): identity = i
        }
        guard
            !checkExpiry
                || (date.addingTimeInterval(Double(expires)) >= state.now()
                    && date <= state.now().addingTimeInterval(Self.skew))
        else {
            return .failure(.requestExpired("Request has expired"))
        }
        let names = Set(signed.split(separator: ";").map(String.init))
        guard names.contains("host") else { return .failure(.malformed(Self.hostUnsigned)) }
        if let problem = Self.scopeProblem(region: scope.region, service: scope.service) {
            return .failure(.invalidScope(problem))
        }
        let authParameters: Set<String> = [
            "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
            "X-Amz-Security-Token", "X-Amz-Signature",
        ]
        let sigRequest = SigV4Request(
            method: request.method, host: request.header("Host") ?? "", path: request.path,
            query: query.filter { !authParameters.contains($0.0) },
            headers: request.headers.filter { names.contains($0.0.lowercased()) }, body: [])
        let credentials = AWSCredentials(
            accessKeyID: identity.accessKeyID, secretAccessKey: identity.secret, sessionToken: identity.sessionToken)
        let expected = SigV4Signer(service: scope.service, region: scope.region, keys: state.signingKeys)
            .presign(sigRequest, credentials: credentials, date: date, expires: expires)
        guard expected.signature == signature else { return .failure(.signatureMismatch) }
        return .success(Caller(identity: identity, region: scope.region, service: scope.service))
    }
}
