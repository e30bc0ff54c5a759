// Transport failures: what libcurl said, for which URL (without its query), and whether to retry.
import FleetSupport

public struct HTTPClientError: FleetError, Hashable {
    enum Code: Hashable {
        case transport(Int32)
        case cancelled
        case shutdown
        case responseTooLarge
        case invalidRequest
    }

    let code: Code
    public let url: String
    public let detail: String

    public static func transport(_ curlCode: Int32, url: String, detail: String) -> Self {
        Self(code: .transport(curlCode), url: url, detail: detail)
    }
    static func cancelled(url: String) -> Self { Self(code: .cancelled, url: url, detail: "cancelled") }
    static func shutdown(url: String) -> Self {
        Self(code: .shutdown, url: url, detail: "the HTTP client was shut down")
    }
    static func tooLarge(url: String, limit: Int) -> Self {
        Self(code: .responseTooLarge, url: url, detail: "the response is larger than \(limit >> 20) MiB")
    }
    static func invalid(url: String, _ detail: String) -> Self { Self(code: .invalidRequest, url: url, detail: detail) }

    public var isCancellation: Bool { code == .cancelled }

    /// libcurl's code, for transport errors.
    public var curlCode: Int32? {
        if case .transport(let c) = code { return c }
        return nil
    }

    /// Timeouts (CURLE_OPERATION_TIMEDOUT): the AWS retry quota charges these more.
    public var isTimeout: Bool { curlCode == 28 }

    /// Connection-level failures worth a retry: resolve, connect, reset, timeout, send/receive, HTTP/2 stream, and a
    /// TLS handshake cut off by the network.
    public var isRetryable: Bool {
        guard let c = curlCode else { return false }
        return [5, 6, 7, 16, 18, 28, 52, 55, 56, 92].contains(c) || isHandshakeCutOff
    }

    /// TLS verification failures (CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT...): never retried.
    public var isCertificateProblem: Bool {
        guard let c = curlCode else { return false }
        return [51, 53, 54, 58, 59, 60, 77, 80, 83, 90, 91].contains(c) || (c == 35 && !isHandshakeCutOff)
    }

    /// CURLE_SSL_CONNECT_ERROR (35) is any failed handshake: a server that rejects ours (a TLS problem, not retried)
    /// or a connection reset or closed in the middle of it (a server going away or overloaded: a transport failure).
    var isHandshakeCutOff: Bool {
        guard curlCode == 35 else { return false }
        return [
            "reset by peer", "Recv failure", "Send failure", "SSL_ERROR_SYSCALL", "unexpected eof",
            "Connection refused",
        ]
        .contains { detail.localizedCaseInsensitiveContains($0) }
    }

    public var errorClass: String {
        switch code {
        case .transport(let c): isTimeout ? "http.timeout" : isCertificateProblem ? "http.tls" : "http.transport.\(c)"
        case .cancelled: "http.cancelled"
        case .shutdown: "http.shutdown"
        case .responseTooLarge: "http.too-large"
        case .invalidRequest: "http.invalid-request"
        }
    }

    public var description: String { "\(url): \(detail)" }

    public var hint: String? {
        if isCertificateProblem {
            return
                """
                the server's certificate is not trusted: check the CA (AWS_CA_BUNDLE, the cluster's CA) and the host \
                name
                """
        }
        if isTimeout {
            return "the server did not answer in time: check the network path and proxies (HTTPS_PROXY, NO_PROXY)"
        }
        return nil
    }
}
