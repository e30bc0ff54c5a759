// EKS DescribeCluster (REST-JSON) as the lab serves it: each simulated cluster's endpoint and its own CA.
import Foundation
import SigV4

struct EKSService {
    let state: LabState
    /// The endpoint and CA PEM of a cluster, by name.
    let cluster: @Sendable (LabConfig.Cluster) async throws -> (endpoint: String, caPEM: String)

    func handle(_ request: LabRequest, caller: LabSigV4Verifier.Caller) async -> LabResponse {
        let parts = request.path.split(separator: "/")
        guard request.method == "GET", parts.count == 2, parts[0] == "clusters" else {
            return LabError(
                code: "InvalidRequestException", message: "unsupported EKS operation \(request.method) \(request.path)",
                status: 400
            )
            .response(protocol: .restJSON)
        }
        let name = PercentEncoding.decode(parts[1])
        guard
            let c = state.clusters.first(where: {
                $0.name == name && $0.region == caller.region
                    && state.accountID(named: $0.account) == caller.identity.accountID
            })
        else {
            return LabError(
                code: "ResourceNotFoundException", message: "No cluster found for name: \(name).", status: 404
            )
            .response(protocol: .restJSON)
        }
        guard let (endpoint, ca) = try? await cluster(c) else {
            return LabError(
                code: "ServerException", message: "the lab could not start the cluster's API server", status: 500
            )
            .response(protocol: .restJSON)
        }
        let accountID = caller.identity.accountID
        let seed = "\(accountID)/\(c.region)/\(c.name)"
        let id = { (prefix: String, count: Int) in
            "\(prefix)-" + LabState.deterministicHex(seed: seed + prefix, count: count)
        }
        // The model's shape (botocore's eks DescribeCluster): timestamps as epoch seconds, as restJSON sends them.
        return .json([
            "cluster": [
                "name": c.name,
                "arn": "arn:aws:eks:\(c.region):\(accountID):cluster/\(c.name)",
                "createdAt": state.createdAt.timeIntervalSince1970.rounded(),
                "version": c.version ?? "1.31",
                "endpoint": endpoint,
                "roleArn": "arn:aws:iam::\(accountID):role/eks-cluster-\(c.name)",
                "resourcesVpcConfig": [
                    "subnetIds": [id("subnet", 17), id("subnet", 16) + "0"],
                    "securityGroupIds": [] as [String],
                    "clusterSecurityGroupId": id("sg", 17),
                    "vpcId": id("vpc", 17),
                    "endpointPublicAccess": true,
                    "endpointPrivateAccess": true,
                    "publicAccessCidrs": ["0.0.0.0/0"],
                ] as [String: Any],
                "kubernetesNetworkConfig": ["serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"],
                "logging": ["clusterLogging": [["types": ["api", "audit", "authenticator"], "enabled": false]]],
                "identity": [
                    "oidc": ["issuer": "https://oidc.eks.\(c.region).amazonaws.com/id/\(c.name.uppercased())"]
                ],
                "status": "ACTIVE",
                "certificateAuthority": ["data": Data(ca.utf8).base64EncodedString()],
                "platformVersion": "eks.1",
                "tags": [String: String](),
                "accessConfig": ["authenticationMode": "API"],
                "upgradePolicy": ["supportType": "STANDARD"],
            ] as [String: Any]
        ])
    }
}

/// CodeCommit GetRepository (JSON 1.1) with clone URLs that point at the lab's Git endpoints.
struct CodeCommitService {
    let state: LabState
    let httpBase: String
    let sshBase: @Sendable () -> String?

    func handle(_ request: LabRequest, caller: LabSigV4Verifier.Caller) -> LabResponse {
        let target = request.header("X-Amz-Target") ?? ""
        let operation = target.split(separator: ".").last.map(String.init) ?? ""
        guard operation == "GetRepository" else {
            return LabError(
                code: "UnknownOperationException", message: "\(operation) is not served by the lab", status: 400
            )
            .response(protocol: .json)
        }
        let input = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:]
        let name = input["repositoryName"] as? String ?? ""
        guard
            let repo = state.repositories(accountID: caller.identity.accountID, named: name).first(where: {
                $0.region == caller.region
            })
        else {
            return LabError(code: "RepositoryDoesNotExistException", message: "\(name) does not exist", status: 400)
                .response(protocol: .json)
        }
        let accountID = caller.identity.accountID
        return .json(
            [
                "repositoryMetadata": [
                    "accountId": accountID,
                    "repositoryId": LabState.deterministicUUID(seed: "\(accountID)/\(repo.region)/\(repo.name)"),
                    "repositoryName": repo.name,
                    "defaultBranch": "main",
                    "creationDate": state.createdAt.timeIntervalSince1970.rounded(),
                    "lastModifiedDate": state.createdAt.timeIntervalSince1970.rounded(),
                    "kmsKeyId": "alias/aws/codecommit",
                    "cloneUrlHttp": "\(httpBase)/v1/repos/\(repo.name)",
                    "cloneUrlSsh": sshBase().map { "\($0)/v1/repos/\(repo.name)" } ?? "",
                    "Arn": "arn:aws:codecommit:\(repo.region):\(accountID):\(repo.name)",
                ] as [String: Any]
            ], contentType: "application/x-amz-json-1.1")
    }
}
