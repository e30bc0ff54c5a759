// The lab's EKS clusters: each its own HTTPS listener on 127.0.0.1 with a certificate from its own CA, started
// when the cluster is first described, and its own object store. A client needs nothing but DescribeCluster's
// endpoint and CA, as with EKS (kubectl included: no special name resolution, no tls-server-name).
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Synchronization

final class LabKubernetes: Sendable {
    let state: LabState
    let tokens: EKSTokenVerifier
    private let cas = Mutex<[String: LabCertificateAuthority]>([:])
    private let stores = Mutex<[String: KubernetesStore]>([:])
    private let listeners = Mutex<[String: (port: Int, task: Task<Void, any Error>)]>([:])
    private let starting = Mutex<[String: Task<Int, any Error>]>([:])

    init(state: LabState, labSTSHost: String) {
        self.state = state
        self.tokens = EKSTokenVerifier(state: state, labSTSHost: labSTSHost)
    }

    func ca(for cluster: String) -> LabCertificateAuthority {
        cas.withLock { cas in
            if let ca = cas[cluster] { return ca }
            let ca = try! LabCertificateAuthority(name: "\(cluster) cluster CA")
            cas[cluster] = ca
            return ca
        }
    }

    /// DescribeCluster's answer: the endpoint and the CA that signs it. Starts the cluster's listener if needed.
    func endpoint(for cluster: LabConfig.Cluster) async throws -> (endpoint: String, caPEM: String) {
        let port = try await listen(cluster)
        return ("https://127.0.0.1:\(port)", ca(for: cluster.name).certificatePEM)
    }

    private func listen(_ cluster: LabConfig.Cluster) async throws -> Int {
        if let port = listeners.withLock({ $0[cluster.name]?.port }) { return port }
        let task = starting.withLock { starting in
            if let task = starting[cluster.name] { return task }
            let task = Task { try await self.start(cluster) }
            starting[cluster.name] = task
            return task
        }
        return try await task.value
    }

    private func start(_ cluster: LabConfig.Cluster) async throws -> Int {
        let (certPEM, keyPEM) = try ca(for: cluster.name).issueServerCertificate(hosts: ["127.0.0.1", "localhost"])
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certPEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        let name = cluster.name
        let responder = CallbackResponder<BasicRequestContext> { [self] request, _ in
            let body = try await request.body.collect(upTo: 64 << 20)
            var headers: [(String, String)] = request.head.authority.map { [("Host", $0)] } ?? []
            for field in request.headers { headers.append((field.name.rawName, field.value)) }
            let answer = handle(
                LabRequest(method: request.method.rawValue, target: request.head.path ?? "/", headers: headers, body: Array(body.readableBytesView)),
                cluster: name)
            var response = Response(status: .init(code: answer.status), body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
            for (field, value) in answer.headers {
                if let fieldName = HTTPField.Name(field) { response.headers.append(HTTPField(name: fieldName, value: value)) }
            }
            return response
        }
        var logger = Logger(label: "fleetstrap-lab-eks")
        logger.logLevel = .critical
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: responder,
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(1))), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fleetstrap-lab-eks"),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let task = Task { try await app.run() }
        var port = 0
        for await p in ready.stream { port = p; break }
        guard port > 0 else {
            task.cancel()
            throw LabFailure("the API server of \(cluster.name) did not start")
        }
        listeners.withLock { $0[cluster.name] = (port, task) }
        return port
    }

    func stop() async {
        let tasks = listeners.withLock { $0.values.map(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { _ = try? await task.value }
    }

    func handle(_ request: LabRequest, cluster name: String) -> LabResponse {
        guard let cluster = state.clusters.first(where: { $0.name == name }), let accountID = state.accountID(named: cluster.account) else {
            return KubernetesAPI.status(KubernetesError(code: 404, reason: "NotFound", message: "no cluster \(name)"))
        }
        state.count("k8s:\(request.method)")
        state.count("k8s:\(name)")
        let api = KubernetesAPI(cluster: cluster, accountID: accountID, tokens: tokens, serverAddress: request.header("Host") ?? "127.0.0.1")
        return stores.withLock { stores in
            var store = stores[name] ?? Self.newStore(now: state.now)
            let response = api.handle(request, store: &store)
            stores[name] = store
            return response
        }
    }

    /// What a new EKS cluster has: the default and kube-system namespaces.
    static func newStore(now: @escaping @Sendable () -> Date) -> KubernetesStore {
        var store = KubernetesStore(now: now)
        let namespaces = ResourceType.builtIn[0]
        for name in ["default", "kube-system", "kube-public"] {
            _ = try? store.create(
                .object(["apiVersion": .string("v1"), "kind": .string("Namespace"), "metadata": .object(["name": .string(name)])]),
                type: namespaces, namespace: nil, manager: "kube-apiserver")
        }
        return store
    }
}
