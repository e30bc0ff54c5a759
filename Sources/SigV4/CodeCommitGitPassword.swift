// The Git password CodeCommit accepts over HTTPS from IAM credentials, as `aws codecommit credential-helper`,
// git-remote-codecommit and Flux 2.9 compute it: a SigV4 signature over a fixed canonical request.
import FleetCrypto
import FleetSupport
import Foundation

/// The username holds the session token of temporary credentials: it prints as the access key id only.
public struct CodeCommitGitCredentials: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    public let username: String

    public var description: String {
        "CodeCommitGitCredentials(\(username.split(separator: "%").first.map(String.init) ?? ""), password <redacted>)"
    }
    public var customMirror: Mirror { Mirror(self, children: []) }
    public let password: Secret

    /// Credentials for `host` and repository `path` (`/v1/repos/<name>`) at `date`.
    /// The username is the access key id, or `accessKeyId%sessionToken` for temporary credentials.
    public static func make(
        host: String, path: String, region: String, credentials: AWSCredentials, date: Date,
        signingKeys: SigningKeyCache = SigningKeyCache()
    ) -> CodeCommitGitCredentials {
        let amz = AWSTimestamp.amzDate(date)
        let timestamp = String(amz.dropLast())  // no `Z` in what is signed
        let hostWithoutPort = host.split(separator: ":").first.map(String.init) ?? host
        let canonicalRequest = "GIT\n\(path)\n\nhost:\(hostWithoutPort)\n\nhost\n"
        let day = String(timestamp.prefix(8))
        let stringToSign =
            "AWS4-HMAC-SHA256\n\(timestamp)\n\(day)/\(region)/codecommit/aws4_request\n"
            + SHA256.hash(canonicalRequest).hexString
        let key = signingKeys.key(
            secret: credentials.secretAccessKey, day: day, region: region, service: "codecommit")
        let signature = HMACSHA256.authenticate(stringToSign, key: key).hexString
        let username =
            credentials.sessionToken.map { "\(credentials.accessKeyID)%\($0.reveal())" }
            ?? credentials.accessKeyID
        return CodeCommitGitCredentials(username: username, password: Secret("\(timestamp)Z\(signature)"))
    }

    /// The region a CodeCommit Git host names (`git-codecommit.<region>.amazonaws.com`, FIPS and VPC endpoints).
    public static func region(ofHost host: String) -> String? { CodeCommitHost.region(of: host) }
}
