// Every simulated cluster's object store, made when first used, behind one lock. The API servers and the
// simulated controllers both go through here; each visit is short and never waits on anything.
import Foundation
import Synchronization

final class ClusterStores: Sendable {
    private let stores = Mutex<[String: KubernetesStore]>([:])
    let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date) { self.now = now }

    func with<R>(_ cluster: String, _ body: (inout KubernetesStore) throws -> R) rethrows -> R {
        try stores.withLock { stores in
            var store = stores.removeValue(forKey: cluster) ?? Self.newStore(now: now)
            defer { stores[cluster] = store }
            return try body(&store)
        }
    }

    /// What a new EKS cluster has: the default, kube-system and kube-public namespaces.
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
