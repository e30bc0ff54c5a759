// The lab's EKS clusters: each its own HTTPS listener on 127.0.0.1 with a certificate from its own CA, started
// when the cluster is first described, and its own object store. A client needs nothing but DescribeCluster's
// endpoint and CA, as with EKS (kubectl included: no special name resolution, no tls-server-name).
import Foundation
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
        let name = cluster.name
        let (port, task) = try await LabHTTPServer.start(
            certificatePEM: certPEM, keyPEM: keyPEM, name: "fleetstrap-lab-eks", bodyLimit: 64 << 20
        ) { [self] request in handle(request, cluster: name) }
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
