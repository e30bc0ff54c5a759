// A request as the lab's services see it: raw path and query (signatures cover them as sent), headers in order.
import Foundation
import SigV4

public struct LabRequest: Sendable {
    public var method: String
    /// The path as sent, percent-encoding intact.
    public var path: String
    /// The query string as sent, without `?`.
    public var rawQuery: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            rawQuery = String(target[target.index(after: q)...])
        } else {
            path = target
            rawQuery = ""
        }
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    /// Decoded query pairs.
    public var query: [(String, String)] { PercentEncoding.parseQuery(rawQuery) }

    /// Decoded form fields of an `application/x-www-form-urlencoded` body (Query protocol).
    public var form: [String: String] {
        var out: [String: String] = [:]
        for (k, v) in PercentEncoding.parseQuery(
            String(decoding: body, as: UTF8.self).replacingOccurrences(of: "+", with: "%20"))
        {
            out[k] = v
        }
        return out
    }
}

/// A response the lab sends.
public struct LabResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Close the connection without answering (a fault: connection reset).
    public var abort = false

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static var abort: LabResponse {
        var response = LabResponse(status: 500)
        response.abort = true
        return response
    }

    public static func xml(_ text: String, status: Int = 200) -> LabResponse {
        LabResponse(status: status, headers: [("Content-Type", "text/xml")], body: Array(text.utf8))
    }

    public static func json(_ object: Any, status: Int = 200, contentType: String = "application/json") -> LabResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return LabResponse(status: status, headers: [("Content-Type", contentType)], body: Array(data))
    }
}

enum LabEncoding {
    static func xmlEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
