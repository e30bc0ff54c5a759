// The API server's `Status` errors, typed, with the object and verb they were about.
import FleetSupport
import Foundation

public struct KubeError: FleetError, Equatable {
    public enum Kind: String, Sendable {
        case unauthorized, forbidden, notFound, conflict, invalid, tooManyRequests, server, transport, timeout, failed,
            tls
    }

    public let kind: Kind
    /// HTTP status (0 when there was no answer).
    public let status: Int
    /// `get`, `apply`, `delete`, `wait`…
    public let verb: String
    /// `Kind namespace/name` (or a path).
    public let object: String
    public let message: String
    public let cluster: String

    public init(_ kind: Kind, status: Int = 0, verb: String, object: String, message: String, cluster: String) {
        (self.kind, self.status, self.verb, self.object, self.message, self.cluster) = (
            kind, status, verb, object, message, cluster
        )
    }

    public var description: String { "cluster \(cluster): \(verb) \(object): \(message)" }
    public var errorClass: String { "kubernetes.\(kind.rawValue)" }

    /// From a `Status` body (or a bare status code).
    static func from(status: Int, body: JSONValue?, verb: String, object: String, cluster: String) -> KubeError {
        let message = body?["message"]?.string ?? "HTTP \(status)"
        let kind: Kind =
            switch status {
            case 401: .unauthorized
            case 403: .forbidden
            case 404: .notFound
            case 409: .conflict
            case 422, 400: .invalid
            case 429: .tooManyRequests
            case 500...: .server
            default: .failed
            }
        var hint = ""
        if status == 401 {
            hint =
                " (the token was refused: EKS answers so for a role with no access entry on the cluster; check the"
                + " access entries, the cluster's name and region, and the clock)"
        }
        if status == 403 { hint = " (the role's EKS access policy does not allow it: it needs cluster-admin here)" }
        return KubeError(kind, status: status, verb: verb, object: object, message: message + hint, cluster: cluster)
    }
}
