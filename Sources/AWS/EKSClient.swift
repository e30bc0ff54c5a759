// EKS DescribeCluster (REST-JSON): where a cluster's API server is and which CA signs it.
import Foundation
import SigV4

public struct EKSClient: Sendable {
    public let client: AWSClient
    public let region: String

    public init(client: AWSClient, region: String) {
        self.client = client
        self.region = region
    }

    public struct ClusterInfo: Sendable, Hashable {
        public let name: String
        public let arn: String
        public let endpoint: String
        public let status: String
        public let version: String
        /// The cluster CA, PEM (decoded from the base64 DescribeCluster returns).
        public let certificateAuthorityPEM: [UInt8]
        public let oidcIssuer: String?
    }

    public func describeCluster(name: String, credentials: any CredentialProvider, account: String = "default")
        async throws -> ClusterInfo
    {
        var call = AWSCall(service: .eks, operation: "DescribeCluster", region: region, account: account)
        call.method = "GET"
        call.path = "/clusters/" + PercentEncoding.encode(name)
        call.headers = [("Accept", "application/json")]
        let response = try await client.send(call, credentials: credentials)
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let cluster = object["cluster"] as? [String: Any], let endpoint = cluster["endpoint"] as? String,
            let caData = (cluster["certificateAuthority"] as? [String: Any])?["data"] as? String,
            let ca = Data(base64Encoded: caData)
        else {
            throw AWSError(
                service: "eks", operation: "DescribeCluster", code: "MalformedResponse",
                message: "the response has no endpoint or certificate authority", status: response.status,
                requestID: nil)
        }
        return ClusterInfo(
            name: cluster["name"] as? String ?? name, arn: cluster["arn"] as? String ?? "", endpoint: endpoint,
            status: cluster["status"] as? String ?? "", version: cluster["version"] as? String ?? "",
            certificateAuthorityPEM: Array(ca),
            oidcIssuer: ((cluster["identity"] as? [String: Any])?["oidc"] as? [String: Any])?["issuer"] as? String)
    }
}
