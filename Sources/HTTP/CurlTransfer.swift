// One request's libcurl easy handle and everything it points at, alive until the transfer ends.
import CCurl
import Foundation
import Synchronization

/// Owned by the multi loop's thread from submission to completion; not Sendable beyond that hand-over.
final class CurlTransfer: @unchecked Sendable {
    static let maximumBody = 64 << 20

    let request: HTTPRequest
    let handle: UnsafeMutableRawPointer
    /// Where the transfer stands between its task and the loop; every hand-over goes through it.
    let machine = Mutex(TransferStateMachine())
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private var continuation: CheckedContinuation<HTTPResponse, any Error>?

    private var status = 0
    private var headers: [(String, String)] = []
    private var body: [UInt8] = []
    private var tooLarge = false

    init?(request: HTTPRequest) {
        guard let handle = curl_easy_init() else { return nil }
        self.request = request
        self.handle = handle
        errorBuffer.initialize(to: 0)
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    func attach(_ continuation: CheckedContinuation<HTTPResponse, any Error>) {
        self.continuation = continuation
    }

    /// Resumes the waiting task once; later calls are ignored.
    func finish(_ result: Result<HTTPResponse, HTTPClientError>) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(with: result.mapError { $0 as any Error })
    }

    /// Sets every option; an error here means the request itself is unusable.
    func configure(userAgent: String) -> HTTPClientError? {
        let r = request
        var failed: CURLcode = CURLE_OK
        func check(_ code: CURLcode) { if code != CURLE_OK, failed == CURLE_OK { failed = code } }

        check(fs_curl_setopt_string(handle, CURLOPT_URL, r.url))
        check(fs_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        if let pool = r.pool {
            check(fs_curl_setopt_pointer(handle, CURLOPT_SHARE, pool.share))
        } else if let sessions = HTTPClient.tlsSessions {
            check(fs_curl_setopt_pointer(handle, CURLOPT_SHARE, sessions))
        }
        check(fs_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(fs_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)))
        check(fs_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(r.timeout)))
        check(fs_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(r.connectTimeout)))
        if r.followRedirects {
            check(fs_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1))
            check(fs_curl_setopt_long(handle, CURLOPT_MAXREDIRS, 5))
        }
        check(fs_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        check(fs_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
        check(fs_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, ""))
        let me = Unmanaged.passUnretained(self).toOpaque()
        check(fs_curl_setopt_write_function(handle, curlWrite))
        check(fs_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, me))
        check(fs_curl_setopt_header_function(handle, curlHeader))
        check(fs_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, me))

        // Method and body. curl's own Expect: 100-continue costs a round trip; the caller's headers win.
        let method = r.method.uppercased()
        switch (method, r.body.isEmpty) {
        case ("GET", true): check(fs_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case ("HEAD", _): check(fs_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
        default:
            if method != "POST" { check(fs_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)) }
            if method == "POST" || !r.body.isEmpty || method == "PUT" || method == "PATCH" {
                check(fs_curl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.count)))
                r.body.withUnsafeBytes { bytes in
                    check(
                        fs_curl_setopt_pointer(
                            handle, CURLOPT_COPYPOSTFIELDS,
                            UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(errorBuffer))))
                }
            }
        }
        var list: UnsafeMutablePointer<curl_slist>?
        var names = Set<String>()
        for (name, value) in r.headers {
            // Bytes, not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n" (and walking a 1.5 KB
            // token's graphemes on every request was 3% of a fleet run's CPU).
            if name.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == UInt8(ascii: ":") })
                || value.utf8.contains(where: { $0 == 13 || $0 == 10 })
            {
                return .invalid(url: r.redactedURL, "header '\(name)' holds a line break or colon")
            }
            names.insert(name.lowercased())
            list = curl_slist_append(list, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !names.contains("expect") { list = curl_slist_append(list, "Expect:") }
        if !names.contains("content-type"), !r.body.isEmpty || method == "POST" {
            list = curl_slist_append(list, "Content-Type:")
        }
        headerList = list
        check(fs_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list))

        // A PEM is the only trust: without the CA directory Debian's libcurl adds by default (or a cluster's API
        // server would also pass with a certificate from any public CA); parsed once per pool (see trust.h), or
        // handed to libcurl.
        if case .pem(let pem) = r.trust {
            check(fs_curl_setopt_string(handle, CURLOPT_CAPATH, nil))
            if let store = r.pool?.trustStore(for: pem) {
                check(fs_curl_setopt_trust_store(handle, store))
            } else {
                pem.withUnsafeBytes { bytes in
                    var blob = curl_blob(
                        data: UnsafeMutableRawPointer(mutating: bytes.baseAddress), len: bytes.count,
                        flags: UInt32(CURL_BLOB_COPY))
                    check(fs_curl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, &blob))
                }
            }
        }
        guard failed == CURLE_OK else {
            return .transport(
                Int32(failed.rawValue), url: r.redactedURL, detail: String(cString: curl_easy_strerror(failed)))
        }
        return nil
    }

    /// Called by the loop when curl reports the transfer done.
    func complete(_ code: CURLcode) {
        if tooLarge {
            finish(.failure(.tooLarge(url: request.redactedURL, limit: Self.maximumBody)))
            return
        }
        guard code == CURLE_OK else {
            let detail =
                errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            finish(.failure(.transport(Int32(code.rawValue), url: request.redactedURL, detail: detail)))
            return
        }
        var version = 0
        _ = fs_curl_getinfo_long(handle, CURLINFO_HTTP_VERSION, &version)
        let versionText =
            version == Int(CURL_HTTP_VERSION_2_0) ? "2" : version == Int(CURL_HTTP_VERSION_3) ? "3" : "1.1"
        finish(.success(HTTPResponse(status: status, headers: headers, body: body, httpVersion: versionText)))
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= Self.maximumBody else {
            tooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func receiveHeader(_ line: String) {
        let trimmed = Self.trimmed(line[...])
        if trimmed.hasPrefix("HTTP/") {
            // A new response (after 100 Continue or a redirect): start over.
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers.removeAll()
        } else if let colon = trimmed.firstIndex(of: ":") {
            headers.append(
                (
                    String(trimmed[..<colon]),
                    String(Self.trimmed(trimmed[trimmed.index(after: colon)...]))
                ))
        }
    }

    /// `text` without the spaces, tabs, CRs and LFs around it (HTTP's whitespace), byte by byte: Foundation's
    /// trimming was 2% of fleetstrap's CPU in the fleet benchmark.
    static func trimmed(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, isSpace(utf8[start]) { start = utf8.index(after: start) }
        while end > start, isSpace(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        return text[start..<end]
    }

    static func milliseconds(_ d: Duration) -> Int {
        let (s, atto) = d.components
        return max(1, Int(s) * 1000 + Int(atto / 1_000_000_000_000_000))
    }
}

private let curlWrite: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    guard let context, let data else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private let curlHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, context in
    guard let context, let data else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.receiveHeader(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
    return length
}
