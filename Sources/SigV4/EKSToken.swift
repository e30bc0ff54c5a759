// The bearer token EKS accepts: a presigned STS GetCallerIdentity URL, as `aws eks get-token` and
// aws-iam-authenticator make it.
import FleetSupport
import Foundation

public struct EKSToken: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "k8s-aws-v1."
    /// Clients refresh after 14 minutes; the server accepts the token for 15 after its X-Amz-Date.
    public static let lifetime: TimeInterval = 14 * 60

    public let token: Secret
    public let expiration: Date

    public var description: String { "EKSToken(expires \(expiration))" }

    /// Presigns `GET https://<sts host>/?Action=GetCallerIdentity&Version=2011-06-15` with `x-k8s-aws-id` signed
    /// and `X-Amz-Expires=60`, then `k8s-aws-v1.` + base64url(URL) without padding.
    /// `stsHost` is `sts.<region>.amazonaws.com` (regional) or `sts.amazonaws.com` (global, signed as us-east-1).
    public static func make(
        clusterName: String, region: String, credentials: AWSCredentials, date: Date, stsHost: String? = nil,
        signingKeys: SigningKeyCache = SigningKeyCache()
    ) -> EKSToken {
        let host = stsHost ?? "sts.\(region).amazonaws.com"
        let signingRegion = host == "sts.amazonaws.com" ? "us-east-1" : region
        let request = SigV4Request(
            method: "GET", host: host, path: "/",
            query: [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
            headers: [("host", host), ("x-k8s-aws-id", clusterName)])
        let signed = SigV4Signer(service: "sts", region: signingRegion, keys: signingKeys)
            .presign(request, credentials: credentials, date: date, expires: 60)
        let url = "https://\(host)/?\(signed.request.encodedQuery)"
        return EKSToken(
            token: Secret(prefix + Base64URL.encode(Array(url.utf8))), expiration: date.addingTimeInterval(lifetime))
    }

    public static let execCredentialAPIVersions = [
        "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1",
        "client.authentication.k8s.io/v1alpha1",
    ]

    /// The ExecCredential `aws eks get-token` prints, byte for byte: awscli's JSON formatter (4-space indent, keys in
    /// this order) and the extra blank line it prints after it.
    public func execCredentialJSON(apiVersion: String = "client.authentication.k8s.io/v1beta1") -> String {
        """
        {
            "kind": "ExecCredential",
            "apiVersion": "\(apiVersion)",
            "spec": {},
            "status": {
                "expirationTimestamp": "\(AWSTimestamp.iso8601(expiration))",
                "token": "\(token.reveal())"
            }
        }


        """
    }
}
