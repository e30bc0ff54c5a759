// CodeCommit GetRepository (JSON 1.1): the repository's clone URLs and identity.
import Foundation

public struct CodeCommitClient: Sendable {
    public let client: AWSClient
    public let region: String

    public init(client: AWSClient, region: String) {
        self.client = client
        self.region = region
    }

    public struct RepositoryInfo: Sendable, Hashable {
        public let name: String
        public let id: String
        public let arn: String
        public let accountID: String
        public let cloneURLHTTP: String
        public let cloneURLSSH: String
        public let defaultBranch: String?
    }

    public func getRepository(name: String, credentials: any CredentialProvider, account: String = "default")
        async throws -> RepositoryInfo
    {
        var call = AWSCall(service: .codecommit, operation: "GetRepository", region: region, account: account)
        call.headers = [
            ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "CodeCommit_20150413.GetRepository"),
        ]
        call.body = Array(try JSONSerialization.data(withJSONObject: ["repositoryName": name]))
        let response = try await client.send(call, credentials: credentials)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let m = object["repositoryMetadata"] as? [String: Any]
        else {
            throw AWSError(
                service: "codecommit", operation: "GetRepository", code: "MalformedResponse",
                message: "the response has no repositoryMetadata", status: response.status, requestID: nil)
        }
        return RepositoryInfo(
            name: m["repositoryName"] as? String ?? name, id: m["repositoryId"] as? String ?? "",
            arn: m["Arn"] as? String ?? "", accountID: m["accountId"] as? String ?? "",
            cloneURLHTTP: m["cloneUrlHttp"] as? String ?? "", cloneURLSSH: m["cloneUrlSsh"] as? String ?? "",
            defaultBranch: m["defaultBranch"] as? String)
    }
}
