// Every simulated cluster's object store, made when first used, behind one lock. The API servers and the
// simulated controllers both go through here; each visit is short and never waits on anything.
import Foundation
import Synchronization

final class ClusterStores: Sendable {
    /// One lock per cluster, so clusters are served in parallel; the map of them has its own short lock.
    private final class Box: Sendable {
        let store: Mutex<KubernetesStore>
        init(_ store: KubernetesStore) { self.store = Mutex(store) }
    }

    private let stores = Mutex<[String: Box]>([:])
    let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date) { self.now = now }

    func with<R>(_ cluster: String, _ body: (inout KubernetesStore) throws -> R) rethrows -> R {
        let box = stores.withLock { stores in
            if let box = stores[cluster] { return box }
            let box = Box(Self.newStore(now: now))
            stores[cluster] = box
            return box
        }
        return try box.store.withLock { try body(&$0) }
    }

    /// What a new EKS cluster has: the default, kube-system and kube-public namespaces.
    static func newStore(now: @escaping @Sendable () -> Date) -> KubernetesStore {
        var store = KubernetesStore(now: now)
        let namespaces = ResourceType.builtIn[0]
        for name in ["default", "kube-system", "kube-public"] {
            _ = try? store.create(
                .object([
                    "apiVersion": .string("v1"), "kind": .string("Namespace"),
                    "metadata": .object(["name": .string(name)]),
                ]),
                type: namespaces, namespace: nil, manager: "kube-apiserver")
        }
        return store
    }
}
