import FleetSupport
// AWS credentials: an access key id, its secret, and for temporary credentials a session token and expiry.
import Foundation

public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: Secret
    public var sessionToken: Secret?
    public var expiration: Date?
    /// Where they came from (`environment`, `profile default`, `assume-role prod`), for messages.
    public var source: String

    public init(
        accessKeyID: String, secretAccessKey: Secret, sessionToken: Secret? = nil, expiration: Date? = nil,
        source: String = "static"
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.init(
            accessKeyID: accessKeyID, secretAccessKey: Secret(secretAccessKey),
            sessionToken: sessionToken.map(Secret.init),
            expiration: expiration)
    }

    /// Never prints the secret or the token.
    public var description: String {
        "AWSCredentials(\(accessKeyID), from \(source)\(expiration.map { ", expires \($0)" } ?? ""))"
    }

    /// True when the credentials expire within `margin` of `now`.
    public func expires(within margin: TimeInterval, of now: Date) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(now) <= margin
    }
}
