// How a cluster is reached: its API server's URL and CA, and a bearer token: an EKS token made from AWS
// credentials (refreshed a minute before its 14 minutes run out, or at once when the server refuses it), a static
// token, or a kubeconfig's exec plugin.
import AWS
import FleetSupport
import Foundation
import SigV4

public protocol KubeTokenSource: Sendable {
    /// A token; `refresh` forces a new one (the server refused the last).
    func token(refresh: Bool) async throws -> Secret
}

public struct KubeAccess: Sendable {
    /// A name for messages (the cluster's).
    public var name: String
    public var server: String
    /// PEM CA bundle; TLS is always verified.
    public var caPEM: [UInt8]
    public var tokens: any KubeTokenSource

    public init(name: String, server: String, caPEM: [UInt8], tokens: any KubeTokenSource) {
        (self.name, self.server, self.caPEM, self.tokens) = (name, server, caPEM, tokens)
    }

    /// From EKS: DescribeCluster's endpoint and CA, tokens signed with `credentials`.
    public static func eks(
        cluster: String, region: String, describer: EKSClient, credentials: any CredentialProvider,
        tokenCredentials: (any CredentialProvider)? = nil,
        account: String = "default", now: @escaping @Sendable () -> Date = Date.init
    ) async throws -> KubeAccess {
        let info = try await describer.describeCluster(name: cluster, credentials: credentials, account: account)
        let tokens = EKSTokenSource(
            cluster: cluster, region: region, credentials: tokenCredentials ?? credentials,
            stsHost: describer.client.configuration.endpoints.stsHost(region: region),
            signingKeys: describer.client.configuration.signingKeys, now: now)
        return KubeAccess(name: cluster, server: info.endpoint, caPEM: info.certificateAuthorityPEM, tokens: tokens)
    }
}

/// EKS tokens, made when needed and reused until a minute before they expire.
public actor EKSTokenSource: KubeTokenSource {
    let cluster: String
    let region: String
    let credentials: any CredentialProvider
    let stsHost: String
    let signingKeys: SigningKeyCache
    let now: @Sendable () -> Date
    private var current: EKSToken?

    /// `signingKeys`: the AWS client's, so tokens and API calls derive each day's key once.
    public init(
        cluster: String, region: String, credentials: any CredentialProvider, stsHost: String,
        signingKeys: SigningKeyCache = SigningKeyCache(), now: @escaping @Sendable () -> Date = Date.init
    ) {
        (self.cluster, self.region, self.credentials, self.stsHost, self.signingKeys, self.now) = (
            cluster, region, credentials, stsHost, signingKeys, now
        )
    }

    public func token(refresh: Bool) async throws -> Secret {
        if !refresh, let current, current.expiration.timeIntervalSince(now()) > 60 { return current.token }
        let token = EKSToken.make(
            clusterName: cluster, region: region, credentials: try await credentials.credentials(), date: now(),
            stsHost: stsHost, signingKeys: signingKeys)
        current = token
        return token.token
    }
}

public struct StaticKubeToken: KubeTokenSource {
    let value: Secret
    public init(_ value: Secret) { self.value = value }
    public func token(refresh: Bool) async throws -> Secret { value }
}
