// The lab's EKS clusters: each its own HTTPS listener on 127.0.0.1 with a certificate from its own CA, started
// when the cluster is first described, its own object store and its simulated controllers. A client needs nothing
// but DescribeCluster's endpoint and CA, as with EKS (kubectl included: no special name resolution, no
// tls-server-name). An unreachable cluster (a fault) keeps its port but stops listening, so connections are refused.
// With `sharedClusterListener`, one listener serves them all, told apart by TLS server name and Host, each still
// with its own CA; an unreachable cluster's connections are then reset instead.
import FleetCrypto
import FleetSupport
import Foundation
import Synchronization

final class LabKubernetes: Sendable {
    let state: LabState
    let tokens: EKSTokenVerifier
    let stores: ClusterStores
    let controllers: LabControllers
    let faults: FaultInjector
    private let cas = Mutex<[String: LabCertificateAuthority]>([:])
    private struct Listener {
        var port: Int
        var task: Task<Void, any Error>?
    }
    private let listeners = Mutex<[String: Listener]>([:])
    private let starting = Mutex<[String: Task<Int, any Error>]>([:])
    private let clusters: [String: LabConfig.Cluster]
    private let shared: Bool
    /// Host name → cluster, for the shared listener.
    private let hostNames: [String: String]
    private let sharedListener = Mutex<Task<(port: Int, task: Task<Void, any Error>), any Error>?>(nil)

    init(
        state: LabState, labSTSHost: String, faults: FaultInjector, fetcher: SourceFetcher,
        settings: LabControllers.Settings, shared: Bool = false
    ) {
        self.state = state
        self.tokens = EKSTokenVerifier(state: state, labSTSHost: labSTSHost)
        self.faults = faults
        self.stores = ClusterStores(now: state.now)
        self.controllers = LabControllers(
            stores: stores, settings: settings, fetcher: fetcher, isStuck: { faults.isStuck($0) })
        self.clusters = Dictionary(state.clusters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.shared = shared
        self.hostNames =
            shared
            ? Dictionary(state.clusters.map { (Self.hostName($0), $0.name) }, uniquingKeysWith: { a, _ in a }) : [:]
        controllers.start()
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
        if shared {
            return ("https://\(Self.hostName(cluster)):\(try await sharedPort())", ca(for: cluster.name).certificatePEM)
        }
        let port = try await listen(cluster)
        return ("https://127.0.0.1:\(port)", ca(for: cluster.name).certificatePEM)
    }

    private func listen(_ cluster: LabConfig.Cluster) async throws -> Int {
        if let port = listeners.withLock({ $0[cluster.name]?.port }) { return port }
        let task = starting.withLock { starting in
            if let task = starting[cluster.name] { return task }
            let task = Task { try await self.start(cluster.name, port: 0) }
            starting[cluster.name] = task
            return task
        }
        return try await task.value
    }

    private func start(_ name: String, port: Int) async throws -> Int {
        if faults.isUnreachable(name) {
            let reserved = port != 0 ? port : (LoopbackPort.free() ?? 0)
            guard reserved != 0 else { throw LabFailure("no free port on 127.0.0.1 for cluster \(name)") }
            listeners.withLock { $0[name] = Listener(port: reserved, task: nil) }
            return reserved
        }
        let (certPEM, keyPEM) = try ca(for: name).issueServerCertificate(hosts: ["127.0.0.1", "localhost"])
        let (bound, task) = try await LabHTTPServer.start(
            certificatePEM: certPEM, keyPEM: keyPEM, name: "fleetstrap-lab-eks", port: port, bodyLimit: 64 << 20
        ) { [self] request in await handle(request, cluster: name) }
        listeners.withLock { $0[name] = Listener(port: bound, task: task) }
        return bound
    }

    /// Like EKS's `<id>.gr7.<region>.eks.amazonaws.com`, under `.localhost` (loopback by RFC 6761).
    static func hostName(_ cluster: LabConfig.Cluster) -> String {
        "\(SHA256.hash(cluster.name).prefix(16).hexString).gr7.\(cluster.region).eks.localhost"
    }

    private func sharedPort() async throws -> Int {
        let task = sharedListener.withLock { listener in
            if let listener { return listener }
            let task = Task { [self] in
                let (certPEM, keyPEM) = try LabCertificateAuthority(name: "fleetstrap lab EKS front")
                    .issueServerCertificate(hosts: ["127.0.0.1", "localhost"])
                return try await LabHTTPServer.start(
                    certificatePEM: certPEM, keyPEM: keyPEM, name: "fleetstrap-lab-eks", bodyLimit: 64 << 20,
                    serverNames: { [self] host in
                        guard let name = hostNames[host] else { return nil }
                        return try? ca(for: name).issueServerCertificate(hosts: [host])
                    }
                ) { [self] request in
                    let host = String((request.header("Host") ?? "").prefix { $0 != ":" })
                    guard let name = hostNames[host] else {
                        return KubernetesAPI.status(
                            KubernetesError(code: 404, reason: "NotFound", message: "no cluster at \(host)"))
                    }
                    return await handle(request, cluster: name)
                }
            }
            listener = task
            return task
        }
        return try await task.value.port
    }

    /// After the faults change: unreachable clusters stop listening; reachable ones listen again on their port.
    func syncReachability() async {
        for (name, listener) in listeners.withLock({ $0 }) {
            if faults.isUnreachable(name), let task = listener.task {
                listeners.withLock { $0[name]?.task = nil }
                task.cancel()
                _ = try? await task.value
            } else if !faults.isUnreachable(name), listener.task == nil {
                _ = try? await start(name, port: listener.port)
            }
        }
    }

    func stop() async {
        await controllers.stop()
        var tasks = listeners.withLock { $0.values.compactMap(\.task) }
        if let front = sharedListener.withLock({ $0 }), let (_, task) = try? await front.value { tasks.append(task) }
        for task in tasks { task.cancel() }
        for task in tasks { _ = try? await task.value }
    }

    func handle(_ request: LabRequest, cluster name: String) async -> LabResponse {
        guard let cluster = clusters[name], let accountID = state.accountID(named: cluster.account) else {
            return KubernetesAPI.status(KubernetesError(code: 404, reason: "NotFound", message: "no cluster \(name)"))
        }
        // A connection made before the cluster became unreachable.
        if faults.isUnreachable(name) { return .abort }
        let verb = KubernetesAPI.verb(request)
        state.count(service: "kubernetes", operation: verb, cluster: name)
        let call = FaultInjector.Call(
            service: "kubernetes", operation: verb, accountID: accountID, region: cluster.region, cluster: name)
        if let injected = await faults.intercept(call, answer: .kubernetes, state: state) { return injected }
        let api = KubernetesAPI(
            cluster: cluster, accountID: accountID, tokens: tokens, serverAddress: request.header("Host") ?? "127.0.0.1"
        )
        let response = stores.with(name) { api.handle(request, store: &$0) }
        if response.status == 401 || response.status == 403 { state.count(.denied, service: "kubernetes") }
        // Only writes the controllers act on wake them (every object of an apply did: a reconcile per tick per
        // cluster being applied, most of them for RBAC, CRDs and the like).
        if request.method != "GET", response.status < 300, LabControllers.watches(request.path) {
            controllers.touch(name)
        }
        return response
    }
}
