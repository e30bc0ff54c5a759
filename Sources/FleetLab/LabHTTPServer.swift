// One HTTPS listener on 127.0.0.1: Hummingbird with NIOSSL, requests turned into LabRequests and answers back.
// The AWS listener and every simulated cluster's API server are one of these.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

enum LabHTTPServer {
    /// Starts listening and returns the port and the task serving it (cancel it to stop: the listener closes, the
    /// connections already accepted are served and closed, and requests still running after 2 s are cancelled).
    /// `serverNames`, when given, picks a certificate by the TLS server name (SNI): one listener, many identities.
    static func start(
        certificatePEM: String, keyPEM: String, name: String, port: Int = 0, bodyLimit: Int = 256 << 20,
        serverNames: (@Sendable (String) -> (certificatePEM: String, keyPEM: String)?)? = nil,
        handle: @escaping @Sendable (LabRequest) async -> LabResponse
    ) async throws -> (port: Int, task: Task<Void, any Error>) {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        // A client idle in its connection pool never answers close_notify: do not wait the default 5 s for it.
        tls.shutdownTimeout = .milliseconds(200)
        if let serverNames {
            let parsed = Mutex<[String: NIOSSLContextConfigurationOverride]>([:])
            tls.sslContextCallback = { values, promise in
                guard let host = values.serverHostname else { return promise.succeed(.noChanges) }
                if let known = parsed.withLock({ $0[host] }) { return promise.succeed(known) }
                guard let (certificate, key) = serverNames(host),
                    let chain = try? NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)),
                    let privateKey = try? NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)
                else { return promise.succeed(.noChanges) }
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = chain.map { .certificate($0) }
                override.privateKey = .privateKey(privateKey)
                parsed.withLock { $0[host] = override }
                promise.succeed(override)
            }
        }
        let responder = CallbackResponder<LabRequestContext> { request, context in
            let body = try await request.body.collect(upTo: bodyLimit)
            // HTTP/1.1's Host header lives in the authority of swift-http-types' request head; SigV4 signs it.
            var headers: [(String, String)] = request.head.authority.map { [("Host", $0)] } ?? []
            for field in request.headers { headers.append((field.name.rawName, field.value)) }
            let answer = await handle(
                LabRequest(
                    method: request.method.rawValue, target: request.head.path ?? "/", headers: headers,
                    body: Array(body.readableBytesView)))
            if answer.abort {
                // A reset: linger 0 makes the close a TCP RST (after TLS's close_notify, which NIOSSL sends first).
                try? await (context.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                    .get()
                try? await context.channel.close()
                throw LabAborted()
            }
            var response = Response(
                status: .init(code: answer.status), body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            for (field, value) in answer.headers {
                if let fieldName = HTTPField.Name(field) {
                    response.headers.append(HTTPField(name: fieldName, value: value))
                }
            }
            return response
        }
        var logger = Logger(label: name)
        // Cancellation at shutdown is logged as an error by the server; it is the normal way out
        logger.logLevel = .critical
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: responder,
            // Idle keep-alive connections close after 30 s. Not less: a request whose answer takes long (git
            // http-backend under load) must not see its connection closed, or the client resends it (curl does).
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(30))), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: name),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        // Stopping is a graceful shutdown, not a cancellation of the server: cancelled, Hummingbird drops connections
        // it accepted but has not picked up yet, and NIO traps on their unfinished writers ("Deinited NIOAsyncWriter
        // without calling finish()") when a client connects at that moment.
        let group = ServiceGroup(services: [app], logger: logger)
        let runner = Task { try await group.run() }
        let task = Task<Void, any Error> {
            await withTaskCancellationHandler {
                _ = try? await runner.value
            } onCancel: {
                Task { await group.triggerGracefulShutdown() }
                Task {
                    try? await Task.sleep(for: .seconds(2))
                    runner.cancel()
                }
            }
        }
        for await bound in ready.stream where bound > 0 { return (bound, task) }
        task.cancel()
        throw LabFailure("\(name) did not start listening")
    }
}

/// Hummingbird's basic context plus the connection, so a fault can close it.
struct LabRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

struct LabAborted: Error {}
