// AWS Security Token Service: AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity (Query protocol, XML).
import FleetSupport
import Foundation
import SigV4

public struct STSClient: Sendable {
    public let client: AWSClient
    public let region: String
    static let version = "2011-06-15"

    public init(client: AWSClient, region: String) {
        self.client = client
        self.region = region
    }

    public struct CallerIdentity: Sendable, Hashable {
        public let account: String
        public let arn: String
        public let userID: String
    }

    public struct AssumeRoleRequest: Sendable {
        public var roleARN: String
        public var sessionName: String
        public var externalID: String?
        public var durationSeconds: Int?

        public init(roleARN: String, sessionName: String, externalID: String? = nil, durationSeconds: Int? = nil) {
            self.roleARN = roleARN
            self.sessionName = sessionName
            self.externalID = externalID
            self.durationSeconds = durationSeconds
        }
    }

    public func getCallerIdentity(credentials: any CredentialProvider, account: String = "default") async throws
        -> CallerIdentity
    {
        let call = AWSCall.query(
            .sts, "GetCallerIdentity", version: Self.version, region: region, account: account, parameters: [])
        let xml = try await send(call, credentials: credentials)
        guard let result = xml.find("GetCallerIdentityResult"), let arn = result["Arn"]?.text,
            let accountID = result["Account"]?.text
        else { throw malformed("GetCallerIdentity") }
        return CallerIdentity(account: accountID, arn: arn, userID: result["UserId"]?.text ?? "")
    }

    public func assumeRole(
        _ request: AssumeRoleRequest, credentials: any CredentialProvider, account: String = "default"
    )
        async throws -> AWSCredentials
    {
        var parameters = [("RoleArn", request.roleARN), ("RoleSessionName", request.sessionName)]
        if let d = request.durationSeconds { parameters.append(("DurationSeconds", String(d))) }
        if let e = request.externalID { parameters.append(("ExternalId", e)) }
        let call = AWSCall.query(
            .sts, "AssumeRole", version: Self.version, region: region, account: account, parameters: parameters)
        let xml = try await send(call, credentials: credentials)
        return try parseCredentials(xml, operation: "AssumeRole", source: "assume-role \(request.roleARN)")
    }

    /// Unsigned: the web identity token (an OIDC JWT, e.g. the projected IRSA token) is the proof.
    public func assumeRoleWithWebIdentity(
        roleARN: String, sessionName: String, token: Secret, durationSeconds: Int? = nil
    )
        async throws -> AWSCredentials
    {
        var parameters = [("RoleArn", roleARN), ("RoleSessionName", sessionName), ("WebIdentityToken", token.reveal())]
        if let d = durationSeconds { parameters.append(("DurationSeconds", String(d))) }
        var call = AWSCall.query(
            .sts, "AssumeRoleWithWebIdentity", version: Self.version, region: region, account: "web-identity",
            parameters: parameters)
        call.signed = false
        let xml = try await send(call, credentials: nil)
        return try parseCredentials(xml, operation: "AssumeRoleWithWebIdentity", source: "web-identity \(roleARN)")
    }

    private func send(_ call: AWSCall, credentials: (any CredentialProvider)?) async throws -> XMLNode {
        let response = try await client.send(call, credentials: credentials)
        guard let xml = XMLNode.parse(response.body) else { throw malformed(call.operation) }
        return xml
    }

    private func parseCredentials(_ xml: XMLNode, operation: String, source: String) throws -> AWSCredentials {
        guard let c = xml.find("Credentials"), let id = c["AccessKeyId"]?.text, let secret = c["SecretAccessKey"]?.text,
            let token = c["SessionToken"]?.text, let expiration = c["Expiration"]?.text,
            let date = AWSTimestamp.parseISO8601(expiration)
        else { throw malformed(operation) }
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: Secret(token), expiration: date,
            source: source)
    }

    func malformed(_ operation: String) -> AWSError {
        AWSError(
            service: "sts", operation: operation, code: "MalformedResponse",
            message: "the response is not the XML STS sends", status: 200, requestID: nil)
    }
}
