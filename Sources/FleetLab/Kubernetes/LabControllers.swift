// The controllers of every simulated cluster, as far as a bootstrap can see them: Deployments become Available
// after a delay; source-controller fetches each GitRepository (SourceFetcher) and reports its artifact;
// kustomize-controller marks each Kustomization applied once its source is Ready. Statuses are shaped as Flux
// v2 writes them. A cluster is looked at when something in it changed or a timer it set runs out.
import FleetCrypto
import FleetSupport
import Foundation
import SigV4
import Synchronization

final class LabControllers: Sendable {
    struct Settings: Sendable {
        /// How long a Deployment takes to become Available after each change of its spec.
        var deploymentDelay: TimeInterval = 1
        /// At most this many fetches at once, lab-wide.
        var concurrentFetches = 8
    }

    private struct Memory: Sendable {
        /// When to look at each cluster again.
        var due = TimerQueue()
        /// Deployment → the generation last seen, when it was first seen, and its template's hash (hashing the
        /// template on every reconcile was a twentieth of the lab's CPU at 10,000 clusters).
        var generationSeen: [String: (generation: Int, at: Date, templateHash: String)] = [:]
        /// GitRepository → when it was last reconciled, and its artifact's directories.
        var lastFetch: [String: Date] = [:]
        var directories: [String: Set<String>] = [:]
        /// Cluster → how many looks at it the controllers began and finished (one at a time: look n begins after
        /// look n-1 ends). A test waits for a look instead of a time.
        var looks: [String: (began: Int, finished: Int)] = [:]
        var fetching: Set<String> = []
        var known: Set<String> = []
    }

    let stores: ClusterStores
    let settings: Settings
    let fetcher: SourceFetcher
    /// Clusters whose source-controller is stuck (a fault): it reconciles nothing.
    let isStuck: @Sendable (String) -> Bool
    private let memory = Mutex(Memory())
    private let loop = Mutex<Task<Void, Never>?>(nil)
    /// Fetches under way, which `stop()` waits for: a fetch writes into the lab's folder, and must not do so after
    /// the lab has stopped (and its folder may be gone).
    private let fetches = Mutex<(next: Int, running: [Int: Task<Void, Never>], stopped: Bool)>((0, [:], false))

    init(
        stores: ClusterStores, settings: Settings, fetcher: SourceFetcher, isStuck: @escaping @Sendable (String) -> Bool
    ) {
        self.stores = stores
        self.settings = settings
        self.fetcher = fetcher
        self.isStuck = isStuck
    }

    func start() {
        loop.withLock { loop in
            loop = Task { [self] in
                // Real controllers react to watch events within milliseconds; each tick adds up to its period to every
                // stage of a cluster's wait (a tick costs only the clusters due: TimerQueue).
                while !Task.isCancelled {
                    tick()
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    func stop() async {
        let task = loop.withLock { loop in
            defer { loop = nil }
            return loop
        }
        task?.cancel()
        await task?.value
        let running = fetches.withLock { f in
            f.stopped = true
            return Array(f.running.values)
        }
        for fetch in running { await fetch.value }
    }

    /// Whether a write to `path` is one the controllers act on: Deployments, Flux sources and Kustomizations, and
    /// Secrets (a source's credentials).
    static func watches(_ path: String) -> Bool {
        ["/deployments", "/gitrepositories", "/kustomizations", "/secrets"].contains { path.contains($0) }
    }

    /// Something changed in `cluster`: look at it on the next tick.
    func touch(_ cluster: String) {
        memory.withLock { m in
            m.due.schedule(cluster, at: .distantPast)
            m.known.insert(cluster)
        }
    }

    /// The faults changed: every cluster seen so far is looked at again (a healed controller resumes).
    func touchAll() { memory.withLock { m in for cluster in m.known { m.due.schedule(cluster, at: .distantPast) } } }

    private func schedule(_ cluster: String, at date: Date) {
        memory.withLock { m in m.due.schedule(cluster, at: date) }
    }

    func tick() {
        let now = stores.now()
        let due = memory.withLock { m in m.due.takeDue(by: now) }
        for cluster in due {
            memory.withLock { $0.looks[cluster, default: (0, 0)].began += 1 }
            reconcile(cluster, now: now)
            memory.withLock { $0.looks[cluster, default: (0, 0)].finished += 1 }
        }
    }

    /// How many looks at `cluster` the controllers began and finished.
    func looks(at cluster: String) -> (began: Int, finished: Int) {
        memory.withLock { $0.looks[cluster] ?? (0, 0) }
    }

    // MARK: One cluster

    private func reconcile(_ cluster: String, now: Date) {
        let (next, jobs) = stores.with(cluster) { store -> (Date?, [SourceFetcher.Request]) in
            var next = reconcileDeployments(&store, cluster: cluster, now: now)
            var jobs: [SourceFetcher.Request] = []
            let available = availableDeployments(store)
            if available.contains("source-controller"), !isStuck(cluster) {
                let (sourceNext, sourceJobs) = sourcesToFetch(store, cluster: cluster, now: now)
                next = [next, sourceNext].compactMap { $0 }.min()
                jobs = sourceJobs
            }
            if available.contains("kustomize-controller") {
                reconcileKustomizations(&store, cluster: cluster, now: now)
            }
            return (next, jobs)
        }
        if let next { schedule(cluster, at: next) }
        for job in jobs { startFetch(job) }
    }

    private func startFetch(_ job: SourceFetcher.Request) {
        fetches.withLock { f in
            guard !f.stopped else { return }
            let id = f.next
            f.next += 1
            f.running[id] = Task { [self] in
                let result = await fetcher.fetch(job)
                finish(job, result)
                fetches.withLock { _ = $0.running.removeValue(forKey: id) }
            }
        }
    }

    /// Names of the Deployments whose Available condition is True (one look at them for every controller).
    private func availableDeployments(_ store: KubernetesStore) -> Set<String> {
        Set(
            store.storedObjects(Types.deployment).compactMap { item -> String? in
                let available = (item[path: "status.conditions"]?.array ?? []).contains {
                    $0["type"]?.string == "Available" && $0["status"]?.string == "True"
                }
                return available ? item[path: "metadata.name"]?.string : nil
            })
    }

    // MARK: Deployments

    private func reconcileDeployments(_ store: inout KubernetesStore, cluster: String, now: Date) -> Date? {
        var next: Date?
        for item in store.storedObjects(Types.deployment) {
            guard let name = item[path: "metadata.name"]?.string,
                let namespace = item[path: "metadata.namespace"]?.string
            else { continue }
            let generation = item[path: "metadata.generation"]?.int ?? 1
            let key = "\(cluster)/\(namespace)/\(name)"
            let known = memory.withLock { $0.generationSeen[key] }
            let seen =
                known?.generation == generation
                ? known! : (generation: generation, at: now, templateHash: Self.podTemplateHash(item))
            if known?.generation != generation { memory.withLock { $0.generationSeen[key] = seen } }
            let templateHash = seen.templateHash
            let readyAt = seen.at.addingTimeInterval(settings.deploymentDelay)
            let isAvailable = now >= readyAt
            if !isAvailable { next = min(next ?? readyAt, readyAt) }
            let replicas = item[path: "spec.replicas"]?.int ?? 1
            let previous = item[path: "status.conditions"]?.array ?? []
            let ready = isAvailable ? replicas : 0
            var status: [String: JSONValue] = [
                "observedGeneration": .number(Double(generation)), "replicas": .number(Double(replicas)),
                "updatedReplicas": .number(Double(replicas)),
                "conditions": .array([
                    Conditions.make(
                        "Available", isAvailable,
                        reason: isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                        message: isAvailable
                            ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
                        now: now, previous: previous),
                    Conditions.make(
                        "Progressing", true, reason: isAvailable ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                        message: isAvailable
                            ? "ReplicaSet \"\(name)-\(templateHash)\" has successfully progressed."
                            : "ReplicaSet \"\(name)-\(templateHash)\" is progressing.",
                        now: now, previous: previous),
                ]),
            ]
            if isAvailable {
                status["readyReplicas"] = .number(Double(ready))
                status["availableReplicas"] = .number(Double(ready))
            } else {
                status["unavailableReplicas"] = .number(Double(replicas))
            }
            try? store.setStatus(Types.deployment, namespace: namespace, name: name, .object(status))
        }
        return next
    }

    /// A stable stand-in for the pod-template-hash of the ReplicaSet a Deployment's template makes.
    static func podTemplateHash(_ deployment: JSONValue) -> String {
        let digest = SHA256.hash(deployment["spec"]?["template"].map { $0.encoded } ?? [])
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(digest.prefix(10).map { alphabet[Int($0) % alphabet.count] })
    }

    // MARK: source-controller

    private func sourcesToFetch(_ store: KubernetesStore, cluster: String, now: Date) -> (
        Date?, [SourceFetcher.Request]
    ) {
        guard let type = store.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository") else {
            return (nil, [])
        }
        var next: Date?
        var jobs: [SourceFetcher.Request] = []
        for item in store.storedObjects(type) {
            guard let name = item[path: "metadata.name"]?.string,
                let namespace = item[path: "metadata.namespace"]?.string,
                item[path: "spec.suspend"]?.bool != true
            else { continue }
            let key = "\(cluster)/\(namespace)/\(name)"
            let interval = DurationText.parse(item[path: "spec.interval"]?.string ?? "1m").map(\.seconds) ?? 60
            let generation = item[path: "metadata.generation"]?.int ?? 1
            let requested = item["metadata"]?["annotations"]?["reconcile.fluxcd.io/requestedAt"]?.string
            let handled = item[path: "status.lastHandledReconcileAt"]?.string
            let (last, busy) = memory.withLock { ($0.lastFetch[key], $0.fetching.contains(key)) }
            let nextRun = (last ?? .distantPast).addingTimeInterval(interval)
            let wanted =
                item[path: "status.observedGeneration"]?.int != generation || requested != handled || now >= nextRun
            guard wanted, !busy else {
                if !busy { next = min(next ?? nextRun, nextRun) }
                continue
            }
            let claimed = memory.withLock { m -> Bool in
                guard m.fetching.count < settings.concurrentFetches else { return false }
                m.fetching.insert(key)
                m.lastFetch[key] = now
                return true
            }
            guard claimed else {
                next = now.addingTimeInterval(0.05)
                continue
            }
            let spec = item["spec"]
            let ref: SourceFetcher.Ref =
                if let commit = spec?[path: "ref.commit"]?.string {
                    .commit(commit)
                } else if let tag = spec?[path: "ref.tag"]?.string { .tag(tag) } else {
                    .branch(spec?[path: "ref.branch"]?.string ?? "master")
                }
            var secret: [String: String]?
            if let secretName = spec?[path: "secretRef.name"]?.string,
                let object = store.storedObject(ResourceType.builtIn[1], namespace: namespace, name: secretName)
            {
                secret = (object["data"]?.object ?? [:]).compactMapValues { value in
                    value.string.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
                }
                for (k, v) in object["stringData"]?.object ?? [:] { secret?[k] = v.string }
            }
            let secretName = spec?[path: "secretRef.name"]?.string
            let serviceAccount = store.storedObject(
                ResourceType.builtIn[2], namespace: "flux-system", name: "source-controller")
            jobs.append(
                SourceFetcher.Request(
                    requestedAt: requested, generation: generation, cluster: cluster, namespace: namespace, name: name,
                    url: spec?["url"]?.string ?? "", ref: ref, secret: secret,
                    provider: spec?["provider"]?.string,
                    controllerRole: serviceAccount?["metadata"]?["annotations"]?["eks.amazonaws.com/role-arn"]?.string,
                    missingSecret: secret == nil ? secretName.map { "\(namespace)/\($0)" } : nil))
        }
        return (next, jobs)
    }

    private func finish(_ job: SourceFetcher.Request, _ result: Result<SourceFetcher.Artifact, SourceFetcher.Failure>) {
        let key = "\(job.cluster)/\(job.namespace)/\(job.name)"
        let now = stores.now()
        var interval: TimeInterval = 60
        stores.with(job.cluster) { store in
            guard let type = store.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository"),
                let item = store.storedObject(type, namespace: job.namespace, name: job.name)
            else { return }
            interval = DurationText.parse(item[path: "spec.interval"]?.string ?? "1m").map(\.seconds) ?? 60
            try? store.setStatus(
                type, namespace: job.namespace, name: job.name,
                Self.sourceStatus(item, job: job, result: result, now: now))
        }
        memory.withLock { m in
            m.fetching.remove(key)
            if case .success(let artifact) = result { m.directories[key] = artifact.directories }
        }
        touch(job.cluster)
        schedule(job.cluster, at: now.addingTimeInterval(interval))
    }

    static func sourceStatus(
        _ item: JSONValue, job: SourceFetcher.Request, result: Result<SourceFetcher.Artifact, SourceFetcher.Failure>,
        now: Date
    ) -> JSONValue {
        var status = item["status"]?.object ?? [:]
        let generation = job.generation
        let previous = status["conditions"]?.array ?? []
        status["observedGeneration"] = .number(Double(generation))
        if let requested = job.requestedAt { status["lastHandledReconcileAt"] = .string(requested) }
        switch result {
        case .success(let artifact):
            let revision = job.ref.revision(artifact.commit)
            let path = "gitrepository/\(job.namespace)/\(job.name)/\(artifact.commit).tar.gz"
            status["artifact"] = .object([
                "digest": .string("sha256:" + SHA256.hash(Array(revision.utf8)).hexString),
                "lastUpdateTime": .string(AWSTimestamp.iso8601(now)),
                "path": .string(path), "revision": .string(revision),
                "size": .number(Double(1024 + Int(artifact.commit.utf8.first ?? 0))),
                "url": .string("http://source-controller.flux-system.svc.cluster.local./\(path)"),
            ])
            let message = "stored artifact for revision '\(revision)'"
            status["conditions"] = .array([
                Conditions.make(
                    "Ready", true, reason: "Succeeded", message: message, now: now, previous: previous,
                    generation: generation),
                Conditions.make(
                    "ArtifactInStorage", true, reason: "Succeeded", message: message, now: now, previous: previous,
                    generation: generation),
            ])
        case .failure(let failure):
            var conditions = [
                Conditions.make(
                    "Ready", false, reason: failure.reason, message: failure.message, now: now, previous: previous,
                    generation: generation),
                Conditions.make(
                    "FetchFailed", true, reason: failure.reason, message: failure.message, now: now, previous: previous,
                    generation: generation),
            ]
            if status["artifact"] != nil {
                conditions.append(previous.first { $0["type"]?.string == "ArtifactInStorage" } ?? .null)
            }
            status["conditions"] = .array(conditions.filter { $0 != .null })
        }
        return .object(status)
    }

    // MARK: kustomize-controller

    private func reconcileKustomizations(_ store: inout KubernetesStore, cluster: String, now: Date) {
        guard let type = store.type(apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization"),
            let sourceType = store.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository")
        else { return }
        for item in store.storedObjects(type) {
            guard let name = item[path: "metadata.name"]?.string,
                let namespace = item[path: "metadata.namespace"]?.string,
                item[path: "spec.suspend"]?.bool != true
            else { continue }
            let generation = item[path: "metadata.generation"]?.int ?? 1
            let sourceName = item[path: "spec.sourceRef.name"]?.string ?? ""
            let sourceNamespace = item[path: "spec.sourceRef.namespace"]?.string ?? namespace
            let source = store.storedObject(sourceType, namespace: sourceNamespace, name: sourceName)
            let sourceReady = (source?[path: "status.conditions"]?.array ?? []).contains {
                $0["type"]?.string == "Ready" && $0["status"]?.string == "True"
            }
            let revision = source?[path: "status.artifact.revision"]?.string
            var status = item["status"]?.object ?? [:]
            let previous = status["conditions"]?.array ?? []
            status["observedGeneration"] = .number(Double(generation))
            if let requested = item["metadata"]?["annotations"]?["reconcile.fluxcd.io/requestedAt"] {
                status["lastHandledReconcileAt"] = requested
            }
            guard let revision, sourceReady || status["lastAppliedRevision"] != nil else {
                let message =
                    source == nil
                    ? "GitRepository.source.toolkit.fluxcd.io \"\(sourceName)\" not found"
                    : "Source artifact not found, retrying in 30s"
                status["conditions"] = .array([
                    Conditions.make(
                        "Ready", false, reason: "ArtifactFailed", message: message, now: now, previous: previous,
                        generation: generation)
                ])
                try? store.setStatus(type, namespace: namespace, name: name, .object(status))
                continue
            }
            let path = (item[path: "spec.path"]?.string ?? "./").trimmingPrefix("./").trimmingCharacters(
                in: CharacterSet(charactersIn: "/"))
            let directories = memory.withLock { $0.directories["\(cluster)/\(sourceNamespace)/\(sourceName)"] }
            status["lastAttemptedRevision"] = .string(revision)
            if let directories, !path.isEmpty, !directories.contains(path) {
                status["conditions"] = .array([
                    Conditions.make(
                        "Ready", false, reason: "ArtifactFailed",
                        message:
                            "kustomization path not found: stat /tmp/kustomization/\(path): no such file or directory",
                        now: now, previous: previous, generation: generation)
                ])
            } else {
                status["lastAppliedRevision"] = .string(revision)
                status["conditions"] = .array([
                    Conditions.make(
                        "Ready", true, reason: "ReconciliationSucceeded", message: "Applied revision: \(revision)",
                        now: now,
                        previous: previous, generation: generation)
                ])
            }
            try? store.setStatus(type, namespace: namespace, name: name, .object(status))
        }
    }

    enum Types {
        static let deployment = ResourceType.builtIn.first { $0.kind == "Deployment" }!
    }
}

/// Kubernetes conditions: `lastTransitionTime` moves only when the status flips.
enum Conditions {
    static func make(
        _ type: String, _ status: Bool, reason: String, message: String, now: Date, previous: [JSONValue],
        generation: Int? = nil
    ) -> JSONValue {
        let value = status ? "True" : "False"
        let old = previous.first { $0["type"]?.string == type }
        let since = old?["status"]?.string == value ? old?["lastTransitionTime"] : nil
        var condition: [String: JSONValue] = [
            "type": .string(type), "status": .string(value), "reason": .string(reason), "message": .string(message),
            "lastTransitionTime": since ?? .string(AWSTimestamp.iso8601(now)),
        ]
        if let generation { condition["observedGeneration"] = .number(Double(generation)) }
        if type == "Available" || type == "Progressing" {
            condition["lastUpdateTime"] = condition["lastTransitionTime"]
        }
        return .object(condition)
    }
}
