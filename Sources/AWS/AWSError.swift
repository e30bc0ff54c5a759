// Errors AWS answered with: code, message, HTTP status, request id. Never a credential.
import FleetSupport
import Foundation
import HTTP

public struct AWSError: FleetError, Hashable {
    public let service: String
    public let operation: String
    public let code: String
    public let message: String
    public let status: Int
    public let requestID: String?

    public init(service: String, operation: String, code: String, message: String, status: Int, requestID: String?) {
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        self.requestID = requestID
    }

    public var errorClass: String { "aws.\(code)" }

    public var description: String {
        "\(service) \(operation): \(code) (HTTP \(status)): \(message)" + (requestID.map { " [request \($0)]" } ?? "")
    }

    public var hint: String? {
        switch code {
        case "SignatureDoesNotMatch":
            "the secret access key does not match the access key id: check AWS_SECRET_ACCESS_KEY or the profile"
        case "InvalidClientTokenId", "UnrecognizedClientException":
            "the access key id is not known to AWS: check the credentials in use (AWS_PROFILE, environment)"
        case "ExpiredToken", "ExpiredTokenException":
            "the session credentials have expired: refresh them (aws sso login, a new role session)"
        case "AccessDenied", "AccessDeniedException":
            "the identity lacks permission for \(service):\(operation), or the role's trust policy refuses it"
        default:
            nil
        }
    }

    /// Throttling codes of the standard retry mode.
    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "IDPCommunicationError",
    ]

    public var isThrottling: Bool { Self.throttlingCodes.contains(code) || status == 429 }
    /// The session the request was signed with has expired (or was revoked).
    public var isExpiredToken: Bool { code == "ExpiredToken" || code == "ExpiredTokenException" }

    public var isRetryable: Bool {
        isThrottling || Self.transientCodes.contains(code) || [500, 502, 503, 504].contains(status)
    }

    /// Reads an error from a response in any of AWS's protocols: Query XML, JSON 1.1 (`__type`), REST-JSON
    /// (`x-amzn-ErrorType`). Falls back to the HTTP status when the body says nothing usable.
    static func parse(_ response: HTTPResponse, service: String, operation: String) -> AWSError {
        let requestID = response.header("x-amzn-RequestId") ?? response.header("x-amz-request-id")
        var code: String?
        var message: String?
        var bodyRequestID: String?
        if let xml = XMLNode.parse(response.body) {
            let error = xml.find("Error")
            code = error?["Code"]?.text
            message = error?["Message"]?.text
            bodyRequestID = xml.find("RequestId")?.text ?? xml.find("RequestID")?.text
        } else if let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] {
            code = (object["__type"] as? String) ?? (object["code"] as? String) ?? (object["Code"] as? String)
            message = (object["message"] as? String) ?? (object["Message"] as? String)
        }
        if let header = response.header("x-amzn-ErrorType"), !header.isEmpty { code = header }
        // `com.amazonaws.x#Code` and `Code:http://...` forms carry the code in one part.
        if let c = code {
            code = String(c.split(separator: ":").first ?? Substring(c))
            if let hash = code?.lastIndex(of: "#") { code = String(code![code!.index(after: hash)...]) }
        }
        let fallback =
            response.status == 429
            ? "TooManyRequestsException"
            : response.status >= 500 ? "ServiceUnavailable" : "HTTP\(response.status)"
        return AWSError(
            service: service, operation: operation, code: code.flatMap { $0.isEmpty ? nil : $0 } ?? fallback,
            message: String((message ?? "no message").prefix(2000)), status: response.status,
            requestID: requestID ?? bodyRequestID)
    }
}
