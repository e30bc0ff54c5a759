// IAM's SSH public key API: the keys CodeCommit accepts for SSH, at most five per user.
import FleetSupport
import Foundation
import SigV4

public struct IAMClient: Sendable {
    public let client: AWSClient
    /// Any region of the partition; IAM is signed in its home region.
    public let region: String
    static let version = "2010-05-08"

    public init(client: AWSClient, region: String = "us-east-1") {
        self.client = client
        self.region = region
    }

    public struct SSHPublicKey: Sendable, Hashable {
        public enum Status: String, Sendable {
            case active = "Active"
            case inactive = "Inactive"
        }
        public let userName: String
        public let keyID: String
        public let status: Status
        public let uploadDate: Date?
        /// MD5, colon-separated (from Upload and Get; List does not return it).
        public let fingerprint: String?
        public let body: String?
    }

    public func uploadSSHPublicKey(
        userName: String, publicKey: String, credentials: any CredentialProvider, account: String = "default"
    )
        async throws -> SSHPublicKey
    {
        let xml = try await send(
            "UploadSSHPublicKey", [("UserName", userName), ("SSHPublicKeyBody", publicKey)], credentials, account)
        guard let key = xml.find("SSHPublicKey").flatMap(Self.key) else { throw malformed("UploadSSHPublicKey") }
        return key
    }

    /// All of a user's keys, following `Marker` through every page.
    public func listSSHPublicKeys(
        userName: String, credentials: any CredentialProvider, account: String = "default", pageSize: Int? = nil
    )
        async throws -> [SSHPublicKey]
    {
        var keys: [SSHPublicKey] = []
        var marker: String?
        repeat {
            var parameters = [("UserName", userName)]
            if let marker { parameters.append(("Marker", marker)) }
            if let pageSize { parameters.append(("MaxItems", String(pageSize))) }
            let xml = try await send("ListSSHPublicKeys", parameters, credentials, account)
            guard let result = xml.find("ListSSHPublicKeysResult") else { throw malformed("ListSSHPublicKeys") }
            keys += (result["SSHPublicKeys"]?.all("member") ?? []).compactMap { Self.key($0, user: userName) }
            marker = result["IsTruncated"]?.text == "true" ? result["Marker"]?.text : nil
        } while marker != nil
        return keys
    }

    public func getSSHPublicKey(
        userName: String, keyID: String, credentials: any CredentialProvider, account: String = "default"
    )
        async throws -> SSHPublicKey
    {
        let xml = try await send(
            "GetSSHPublicKey", [("UserName", userName), ("SSHPublicKeyId", keyID), ("Encoding", "SSH")], credentials,
            account)
        guard let key = xml.find("SSHPublicKey").flatMap({ Self.key($0) }) else { throw malformed("GetSSHPublicKey") }
        return key
    }

    public func updateSSHPublicKey(
        userName: String, keyID: String, status: SSHPublicKey.Status, credentials: any CredentialProvider,
        account: String = "default"
    ) async throws {
        _ = try await send(
            "UpdateSSHPublicKey", [("UserName", userName), ("SSHPublicKeyId", keyID), ("Status", status.rawValue)],
            credentials, account)
    }

    public func deleteSSHPublicKey(
        userName: String, keyID: String, credentials: any CredentialProvider, account: String = "default"
    )
        async throws
    {
        _ = try await send(
            "DeleteSSHPublicKey", [("UserName", userName), ("SSHPublicKeyId", keyID)], credentials, account)
    }

    /// IAM HTTPS Git credentials for CodeCommit (service-specific credentials, at most two per user).
    public struct GitCredential: Sendable, Hashable {
        public let id: String
        public let userName: String
        public let serviceUserName: String
        public let status: SSHPublicKey.Status
        public let created: Date?
        /// Only when just created: IAM never shows it again.
        public let password: Secret?
    }

    public func createGitCredential(userName: String, credentials: any CredentialProvider, account: String = "default")
        async throws -> GitCredential
    {
        let xml = try await send(
            "CreateServiceSpecificCredential", [("UserName", userName), ("ServiceName", "codecommit.amazonaws.com")],
            credentials, account)
        guard let node = xml.find("ServiceSpecificCredential"), let credential = Self.gitCredential(node) else {
            throw malformed("CreateServiceSpecificCredential")
        }
        return credential
    }

    public func listGitCredentials(userName: String, credentials: any CredentialProvider, account: String = "default")
        async throws -> [GitCredential]
    {
        let xml = try await send(
            "ListServiceSpecificCredentials", [("UserName", userName), ("ServiceName", "codecommit.amazonaws.com")],
            credentials, account)
        guard let result = xml.find("ListServiceSpecificCredentialsResult") else {
            throw malformed("ListServiceSpecificCredentials")
        }
        return (result["ServiceSpecificCredentials"]?.all("member") ?? []).compactMap(Self.gitCredential)
    }

    public func updateGitCredential(
        userName: String, id: String, status: SSHPublicKey.Status, credentials: any CredentialProvider,
        account: String = "default"
    ) async throws {
        _ = try await send(
            "UpdateServiceSpecificCredential",
            [("UserName", userName), ("ServiceSpecificCredentialId", id), ("Status", status.rawValue)], credentials,
            account)
    }

    public func deleteGitCredential(
        userName: String, id: String, credentials: any CredentialProvider, account: String = "default"
    ) async throws {
        _ = try await send(
            "DeleteServiceSpecificCredential", [("UserName", userName), ("ServiceSpecificCredentialId", id)],
            credentials, account)
    }

    static func gitCredential(_ node: XMLNode) -> GitCredential? {
        guard let id = node["ServiceSpecificCredentialId"]?.text, let user = node["UserName"]?.text,
            let serviceUser = node["ServiceUserName"]?.text,
            let statusText = node["Status"]?.text, let status = SSHPublicKey.Status(rawValue: statusText)
        else { return nil }
        return GitCredential(
            id: id, userName: user, serviceUserName: serviceUser, status: status,
            created: node["CreateDate"].flatMap { AWSTimestamp.parseISO8601($0.text) },
            password: node["ServicePassword"].map { Secret($0.text) })
    }

    private func send(
        _ action: String, _ parameters: [(String, String)], _ credentials: any CredentialProvider, _ account: String
    )
        async throws -> XMLNode
    {
        let call = AWSCall.query(
            .iam, action, version: Self.version, region: region, account: account, parameters: parameters)
        let response = try await client.send(call, credentials: credentials)
        guard let xml = XMLNode.parse(response.body) else { throw malformed(action) }
        return xml
    }

    static func key(_ node: XMLNode) -> SSHPublicKey? { key(node, user: nil) }

    static func key(_ node: XMLNode, user: String?) -> SSHPublicKey? {
        guard let id = node["SSHPublicKeyId"]?.text, let statusText = node["Status"]?.text,
            let status = SSHPublicKey.Status(rawValue: statusText), let userName = node["UserName"]?.text ?? user
        else { return nil }
        return SSHPublicKey(
            userName: userName, keyID: id, status: status,
            uploadDate: node["UploadDate"].flatMap { AWSTimestamp.parseISO8601($0.text) },
            fingerprint: node["Fingerprint"]?.text, body: node["SSHPublicKeyBody"]?.text)
    }

    func malformed(_ operation: String) -> AWSError {
        AWSError(
            service: "iam", operation: operation, code: "MalformedResponse",
            message: "the response is not the XML IAM sends", status: 200, requestID: nil)
    }
}
