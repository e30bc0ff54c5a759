// One HTTPS listener on 127.0.0.1: Hummingbird with NIOSSL, requests turned into LabRequests and answers back.
// The AWS listener and every simulated cluster's API server are one of these.
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

enum LabHTTPServer {
    /// Starts listening and returns the port and the task serving it (cancel it to stop).
    static func start(
        certificatePEM: String, keyPEM: String, name: String, port: Int = 0, bodyLimit: Int = 256 << 20,
        handle: @escaping @Sendable (LabRequest) async -> LabResponse
    ) async throws -> (port: Int, task: Task<Void, any Error>) {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let body = try await request.body.collect(upTo: bodyLimit)
            // HTTP/1.1's Host header lives in the authority of swift-http-types' request head; SigV4 signs it.
            var headers: [(String, String)] = request.head.authority.map { [("Host", $0)] } ?? []
            for field in request.headers { headers.append((field.name.rawName, field.value)) }
            let answer = await handle(LabRequest(
                method: request.method.rawValue, target: request.head.path ?? "/", headers: headers,
                body: Array(body.readableBytesView)))
            var response = Response(status: .init(code: answer.status), body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            for (field, value) in answer.headers {
                if let fieldName = HTTPField.Name(field) { response.headers.append(HTTPField(name: fieldName, value: value)) }
            }
            return response
        }
        var logger = Logger(label: name)
        logger.logLevel = .critical  // cancellation at shutdown is logged as an error by the server; it is the normal way out
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: responder,
            // Idle keep-alive connections close after a second, so a stopping lab does not wait on them.
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(1))), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: name),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let task = Task { try await app.run() }
        for await bound in ready.stream where bound > 0 { return (bound, task) }
        task.cancel()
        throw LabFailure("\(name) did not start listening")
    }
}
