// AWS's error bodies, per protocol: Query (XML ErrorResponse), JSON 1.1 (`__type`), REST-JSON (x-amzn-ErrorType).
import Foundation

struct LabError: Error {
    var code: String
    var message: String
    var status: Int
    var type = "Sender"

    static func denied(_ message: String) -> LabError { LabError(code: "AccessDenied", message: message, status: 403) }

    func response(protocol kind: LabProtocol, requestID: String = UUID().uuidString) -> LabResponse {
        switch kind {
        case .query(let namespace):
            return LabResponse(
                status: status, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)],
                body: Array(
                    """
                    <ErrorResponse xmlns="\(namespace)">
                      <Error>
                        <Type>\(type)</Type>
                        <Code>\(LabEncoding.xmlEscape(code))</Code>
                        <Message>\(LabEncoding.xmlEscape(message))</Message>
                      </Error>
                      <RequestId>\(requestID)</RequestId>
                    </ErrorResponse>
                    """.utf8))
        case .json:
            var r = LabResponse.json(
                ["__type": code, "message": message], status: status, contentType: "application/x-amz-json-1.1")
            r.headers.append(("x-amzn-RequestId", requestID))
            return r
        case .restJSON:
            var r = LabResponse.json(["message": message], status: status)
            r.headers += [("x-amzn-ErrorType", code), ("x-amzn-RequestId", requestID)]
            return r
        }
    }

    /// How a SigV4 failure reads in each protocol (JSON services name them differently from Query services).
    static func from(_ failure: LabSigV4Verifier.Failure, json: Bool) -> LabError {
        switch failure {
        case .missing:
            return LabError(
                code: json ? "MissingAuthenticationTokenException" : "MissingAuthenticationToken",
                message: "Request is missing Authentication Token", status: 403)
        case .unknownKey:
            return LabError(
                code: json ? "UnrecognizedClientException" : "InvalidClientTokenId",
                message: "The security token included in the request is invalid.", status: 403)
        case .signatureMismatch:
            return LabError(
                code: json ? "InvalidSignatureException" : "SignatureDoesNotMatch",
                message:
                    """
                    The request signature we calculated does not match the signature you provided. Check your AWS \
                    Secret Access Key and signing method. Consult the service documentation for details.
                    """,
                status: 403)
        case .expiredToken:
            return LabError(
                code: json ? "ExpiredTokenException" : "ExpiredToken",
                message: "The security token included in the request is expired", status: json ? 403 : 400)
        case .requestExpired(let message):
            return LabError(
                code: json ? "InvalidSignatureException" : "SignatureDoesNotMatch", message: message, status: 403)
        case .malformed(let message):
            return LabError(
                code: json ? "IncompleteSignatureException" : "IncompleteSignature", message: message, status: 400)
        case .invalidScope(let message):
            return LabError(
                code: json ? "InvalidSignatureException" : "SignatureDoesNotMatch", message: message, status: 403)
        }
    }
}

enum LabProtocol {
    case query(namespace: String)
    case json
    case restJSON
}
