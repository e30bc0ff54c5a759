// A Kubernetes REST client on fleetstrap's HTTP client: bearer tokens (a refused token is renewed once), TLS
// always verified against the cluster's CA, 429 (with Retry-After) and 5xx retried with backoff, discovery of
// resources by apiVersion and kind, and get/list/delete/apply/create-or-update with typed errors.
import FleetSupport
import Foundation
import HTTP
import Synchronization

public final class KubeClient: Sendable {
    public let access: KubeAccess
    let http: HTTPClient
    let retry: RetryStrategy
    let quota = RetryQuota()
    let random: @Sendable () -> Double
    /// Requests in flight at once for one cluster's stages (apply, waits).
    public let concurrency: Int
    /// The cluster's connections: reused by its requests, closed when the client goes (a fleet never comes back).
    private let connections = HTTPConnectionPool()
    private let resources = Mutex<[String: Resource]>([:])
    /// Discovery requests under way, per root (/api, /apis) or group version.
    private let discovering = Mutex<[String: Task<[String: Resource], any Error>]>([:])
    /// Whether the server has aggregated discovery (nil: not yet known), and group versions it calls stale.
    private let discoveryMode = Mutex<(aggregates: Bool?, stale: Set<String>)>((nil, []))

    /// What discovery says about a kind: its path segment and whether it lives in namespaces.
    public struct Resource: Sendable, Hashable {
        public var apiVersion: String
        public var kind: String
        public var plural: String
        public var namespaced: Bool
    }

    public init(
        access: KubeAccess, http: HTTPClient = .shared, retry: RetryStrategy = KubeClient.defaultRetry,
        concurrency: Int = KubeClient.defaultConcurrency,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.access = access
        self.concurrency = max(1, concurrency)
        self.http = http
        self.retry = retry
        self.random = random
    }

    public static var defaultRetry: RetryStrategy {
        var strategy = RetryStrategy()
        strategy.maxAttempts = 5
        strategy.maxBackoff = .seconds(10)
        return strategy
    }

    // MARK: Requests

    public struct Response: Sendable {
        public var status: Int
        public var body: JSONValue?
        public var contentType: String?
    }

    /// One request, retried when the server or the network says to try again; a 401 renews the token once.
    /// `parseSuccess: false` leaves a 2xx body unread (an apply's answer echoes a whole CRD back: parsing it was a
    /// tenth of the orchestrator's CPU); error bodies are always read, for their Status.
    public func send(
        _ method: String, _ path: String, body: [UInt8] = [], contentType: String = "application/json",
        accept: String = "application/json", verb: String,
        object: String, parseSuccess: Bool = true, omitting: Set<String> = []
    ) async throws -> Response {
        var attempt = 0
        var refreshed = false
        var lastCost = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            let token = try await access.tokens.token(refresh: false)
            var headers = [
                ("Authorization", "Bearer \(token.reveal())"), ("Accept", accept), ("User-Agent", "fleetstrap"),
            ]
            if !body.isEmpty { headers.append(("Content-Type", contentType)) }
            do {
                let response = try await http.execute(
                    HTTPRequest(
                        method: method, url: access.server + path, headers: headers, body: body, timeout: .seconds(60),
                        trust: .pem(access.caPEM),
                        pool: connections))
                let json =
                    parseSuccess || !(200..<300).contains(response.status)
                    ? JSONValue.parse(response.body, omitting: omitting) : nil
                if response.status == 401, !refreshed {
                    refreshed = true
                    _ = try await access.tokens.token(refresh: true)
                    continue
                }
                if response.status == 429 || response.status >= 500 {
                    let after = response.header("Retry-After").flatMap(Double.init).map { Duration.seconds($0) }
                    let failure = RetryStrategy.Failure.retryable(isTimeout: false, retryAfter: after)
                    if case .retry(let delay, let cost) = retry.decide(
                        attempt: attempt, failure: failure, quota: quota, random: random())
                    {
                        lastCost = cost
                        try await Task.sleep(for: delay)
                        continue
                    }
                }
                if (200..<300).contains(response.status) { quota.recordSuccess(lastRetryCost: lastCost) }
                return Response(status: response.status, body: json, contentType: response.header("Content-Type"))
            } catch let error as HTTPClientError {
                if error.isCertificateProblem {
                    throw KubeError(
                        .tls, verb: verb, object: object,
                        message: "\(error.detail): the server's certificate is not signed by the cluster's CA",
                        cluster: access.name)
                }
                // An API server that refuses connections is more likely down than busy: fewer tries.
                let failure: RetryStrategy.Failure =
                    error.isRetryable && (error.curlCode != 7 || attempt < 3)
                    ? .retryable(isTimeout: error.isTimeout, retryAfter: nil) : .permanent
                guard
                    case .retry(let delay, let cost) = retry.decide(
                        attempt: attempt, failure: failure, quota: quota, random: random())
                else {
                    throw KubeError(
                        error.isTimeout ? .timeout : .transport, verb: verb, object: object, message: "\(error)",
                        cluster: access.name)
                }
                lastCost = cost
                try await Task.sleep(for: delay)
            }
        }
    }

    /// A request that must succeed (2xx); otherwise its Status as a KubeError.
    func expect(
        _ method: String, _ path: String, body: [UInt8] = [], contentType: String = "application/json", verb: String,
        object: String, parseSuccess: Bool = true
    ) async throws -> JSONValue {
        let response = try await send(
            method, path, body: body, contentType: contentType, verb: verb, object: object, parseSuccess: parseSuccess)
        guard (200..<300).contains(response.status) else {
            throw KubeError.from(
                status: response.status, body: response.body, verb: verb, object: object, cluster: access.name)
        }
        return response.body ?? .null
    }

    // MARK: Discovery

    /// The resource serving `kind` in `apiVersion`. Discovery is aggregated where the server has it (Kubernetes
    /// 1.26 and later, as client-go asks): one answer at /apis for every group version, one at /api for the core
    /// group; else, or for a group version the aggregated answer calls stale, asked of the group version itself.
    /// Asked once (again after CRDs change), however many requests want it at the same time.
    public func resource(apiVersion: String, kind: String) async throws -> Resource {
        let key = "\(apiVersion)/\(kind)"
        while true {
            if let known = resources.withLock({ $0[key] }) { return known }
            let (aggregates, stale) = discoveryMode.withLock { ($0.aggregates, $0.stale.contains(apiVersion)) }
            let aggregated = aggregates != false && !stale
            let source = aggregated ? (apiVersion.contains("/") ? "/apis" : "/api") : apiVersion
            let lookup = discovering.withLock { inFlight in
                if let running = inFlight[source] { return running }
                let task = Task {
                    aggregated
                        ? try await self.discoverAll(source, for: apiVersion) : try await self.discover(apiVersion)
                }
                inFlight[source] = task
                return task
            }
            let found: [String: Resource]
            do {
                found = try await lookup.value
                discovering.withLock { _ = $0.removeValue(forKey: source) }
            } catch {
                discovering.withLock { _ = $0.removeValue(forKey: source) }
                throw error
            }
            resources.withLock { $0.merge(found) { $1 } }
            if let resource = found[key] { return resource }
            // The server turned out to have no aggregated discovery, or calls this group version stale: ask it.
            if aggregated, discoveryMode.withLock({ $0.aggregates == false || $0.stale.contains(apiVersion) }) {
                continue
            }
            if aggregated, !found.values.contains(where: { $0.apiVersion == apiVersion }) {
                throw KubeError(
                    .notFound, status: 404, verb: "discover", object: apiVersion,
                    message: "the server does not serve \(apiVersion) (is its CRD installed and established?)",
                    cluster: access.name)
            }
            throw KubeError(
                .notFound, status: 404, verb: "discover", object: "\(kind) (\(apiVersion))",
                message: "\(apiVersion) has no kind \(kind)", cluster: access.name)
        }
    }

    /// Refused, throttled or failing: that error (a 429 or a 5xx is worth another try), never "not served".
    private func throwIfRefused(_ response: Response, apiVersion: String) throws {
        if response.status == 401 || response.status == 403 || response.status == 429 || response.status >= 500 {
            throw KubeError.from(
                status: response.status, body: response.body, verb: "discover", object: apiVersion, cluster: access.name
            )
        }
    }

    /// What client-go asks /api and /apis for: the aggregated document, GA or beta, else the legacy one.
    static let aggregatedDiscovery =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        + "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

    /// Every group version's kinds from the aggregated document at `root` (/api or /apis); empty when the server
    /// answers with the legacy document instead (it has no aggregated discovery: noted, not asked again).
    private func discoverAll(_ root: String, for apiVersion: String) async throws -> [String: Resource] {
        let response = try await send(
            "GET", root, accept: Self.aggregatedDiscovery, verb: "discover", object: apiVersion)
        try throwIfRefused(response, apiVersion: apiVersion)
        guard response.status == 200, response.contentType?.contains("as=APIGroupDiscoveryList") == true,
            let items = response.body?["items"]?.array
        else {
            discoveryMode.withLock { $0.aggregates = false }
            return [:]
        }
        var found: [String: Resource] = [:]
        var stale: Set<String> = []
        for item in items {
            let group = item[path: "metadata.name"]?.string ?? ""
            for version in item["versions"]?.array ?? [] {
                guard let name = version["version"]?.string else { continue }
                let groupVersion = group.isEmpty ? name : "\(group)/\(name)"
                if version["freshness"]?.string == "Stale" {
                    stale.insert(groupVersion)
                    continue
                }
                for entry in version["resources"]?.array ?? [] {
                    guard let plural = entry["resource"]?.string,
                        let entryKind = entry[path: "responseKind.kind"]?.string
                    else { continue }
                    found["\(groupVersion)/\(entryKind)"] = Resource(
                        apiVersion: groupVersion, kind: entryKind, plural: plural,
                        namespaced: entry["scope"]?.string != "Cluster")
                }
            }
        }
        discoveryMode.withLock { mode in
            mode.aggregates = true
            mode.stale.formUnion(stale)
        }
        return found
    }

    /// The kinds a group version serves, asked of the group version (legacy discovery).
    private func discover(_ apiVersion: String) async throws -> [String: Resource] {
        let path = apiVersion.contains("/") ? "/apis/\(apiVersion)" : "/api/\(apiVersion)"
        let response = try await send("GET", path, verb: "discover", object: apiVersion)
        // Only a 404 (or a body without resources) means the group version is not served.
        try throwIfRefused(response, apiVersion: apiVersion)
        guard response.status == 200, let list = response.body?["resources"]?.array else {
            throw KubeError(
                .notFound, status: response.status, verb: "discover", object: apiVersion,
                message: "the server does not serve \(apiVersion) (is its CRD installed and established?)",
                cluster: access.name)
        }
        var found: [String: Resource] = [:]
        for entry in list {
            guard let name = entry["name"]?.string, !name.contains("/"), let entryKind = entry["kind"]?.string else {
                continue
            }
            found["\(apiVersion)/\(entryKind)"] = Resource(
                apiVersion: apiVersion, kind: entryKind, plural: name, namespaced: entry["namespaced"]?.bool ?? true)
        }
        return found
    }

    /// Forget discovery (after CRDs change); the core group's stays (no CRD serves in it).
    public func forgetDiscovery() {
        resources.withLock { $0 = $0.filter { $0.value.apiVersion == "v1" } }
        discovering.withLock { $0.removeAll() }
        discoveryMode.withLock { $0.stale.removeAll() }
    }

    public func path(_ resource: Resource, namespace: String?, name: String? = nil) -> String {
        var path = resource.apiVersion.contains("/") ? "/apis/\(resource.apiVersion)" : "/api/\(resource.apiVersion)"
        if resource.namespaced { path += "/namespaces/\(Self.escape(namespace ?? "default"))" }
        path += "/\(resource.plural)"
        if let name { path += "/\(Self.escape(name))" }
        return path
    }

    static func escape(_ segment: String) -> String {
        // Kubernetes names are almost always unreserved characters only: no CharacterSet work for them.
        let unreserved = segment.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                true
            default: false
            }
        }
        if unreserved { return segment }
        return segment.addingPercentEncoding(
            withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? segment
    }

    static func describe(_ kind: String, _ namespace: String?, _ name: String) -> String {
        namespace.map { "\(kind) \($0)/\(name)" } ?? "\(kind) \(name)"
    }

    // MARK: Objects

    /// The object, or nil when it does not exist; `omitting` names top-level fields not wanted (a CRD's `spec`).
    public func get(apiVersion: String, kind: String, namespace: String?, name: String, omitting: Set<String> = [])
        async throws -> JSONValue?
    {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let object = Self.describe(kind, namespace, name)
        let response = try await send(
            "GET", path(resource, namespace: namespace, name: name), verb: "get", object: object, omitting: omitting)
        if response.status == 404 { return nil }
        guard response.status == 200 else {
            throw KubeError.from(
                status: response.status, body: response.body, verb: "get", object: object, cluster: access.name)
        }
        return response.body
    }

    public func list(apiVersion: String, kind: String, namespace: String?) async throws -> [JSONValue] {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        var path = resource.apiVersion.contains("/") ? "/apis/\(resource.apiVersion)" : "/api/\(resource.apiVersion)"
        if let namespace, resource.namespaced { path += "/namespaces/\(Self.escape(namespace))" }
        path += "/\(resource.plural)"
        return try await expect("GET", path, verb: "list", object: kind)["items"]?.array ?? []
    }

    /// Deletes the object; false when it was not there.
    @discardableResult
    public func delete(apiVersion: String, kind: String, namespace: String?, name: String) async throws -> Bool {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let object = Self.describe(kind, namespace, name)
        let response = try await send(
            "DELETE", path(resource, namespace: namespace, name: name), verb: "delete", object: object)
        if response.status == 404 { return false }
        guard (200..<300).contains(response.status) else {
            throw KubeError.from(
                status: response.status, body: response.body, verb: "delete", object: object, cluster: access.name)
        }
        return true
    }

    /// Server-side apply of one object; the live object it returns is `.null` when `returningObject` is false.
    @discardableResult
    public func apply(_ object: JSONValue, fieldManager: String, force: Bool = true, returningObject: Bool = true)
        async throws -> JSONValue
    {
        try await apply(
            EncodedObject(object), fieldManager: fieldManager, force: force, returningObject: returningObject)
    }

    /// Server-side apply of an object encoded beforehand (one encoding for every cluster it goes to).
    @discardableResult
    public func apply(_ encoded: EncodedObject, fieldManager: String, force: Bool = true, returningObject: Bool = true)
        async throws -> JSONValue
    {
        let object = encoded.object
        guard let apiVersion = object["apiVersion"]?.string, let kind = object["kind"]?.string,
            let name = object[path: "metadata.name"]?.string
        else {
            throw KubeError(
                .invalid, verb: "apply", object: "?", message: "the object has no apiVersion, kind or metadata.name",
                cluster: access.name)
        }
        let namespace = object[path: "metadata.namespace"]?.string
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        return try await expect(
            "PATCH",
            path(resource, namespace: namespace, name: name)
                + "?fieldManager=\(Self.escape(fieldManager))&force=\(force)",
            body: encoded.body, contentType: "application/apply-patch+yaml", verb: "apply",
            object: Self.describe(kind, namespace, name),
            parseSuccess: returningObject)
    }

    /// The server's Kubernetes version as (major, minor), from `/version`.
    public func serverVersion() async throws -> (major: Int, minor: Int) {
        let version = try await expect("GET", "/version", verb: "get", object: "/version")
        let digits = { (text: String?) in Int((text ?? "").prefix { $0.isNumber }) }
        guard let major = digits(version["major"]?.string), let minor = digits(version["minor"]?.string) else {
            throw KubeError(
                .invalid, verb: "get", object: "/version", message: "the server's version is unreadable",
                cluster: access.name)
        }
        return (major, minor)
    }

    /// Whether the caller may `verb` the `resource` of `group` (a SelfSubjectAccessReview).
    public func canI(_ verb: String, group: String, resource: String, namespace: String? = nil) async throws -> Bool {
        var attributes: [String: JSONValue] = [
            "verb": .string(verb), "group": .string(group), "resource": .string(resource),
        ]
        if let namespace { attributes["namespace"] = .string(namespace) }
        let review = JSONValue.object([
            "apiVersion": .string("authorization.k8s.io/v1"), "kind": .string("SelfSubjectAccessReview"),
            "spec": .object(["resourceAttributes": .object(attributes)]),
        ])
        let answer = try await expect(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: review.encoded, verb: "review",
            object: "access to \(verb) \(resource)")
        return answer[path: "status.allowed"]?.bool == true
    }

    /// Creates a Secret, or replaces its data when it exists (as `flux bootstrap` does).
    public func createOrUpdateSecret(
        namespace: String, name: String, data: [String: String], labels: [String: String] = [:],
        fieldManager: String = "flux"
    ) async throws {
        let encoded = data.mapValues { JSONValue.string(Data($0.utf8).base64EncodedString()) }
        var metadata: [String: JSONValue] = ["name": .string(name), "namespace": .string(namespace)]
        if !labels.isEmpty { metadata["labels"] = .object(labels.mapValues { .string($0) }) }
        let secret = JSONValue.object([
            "apiVersion": .string("v1"), "kind": .string("Secret"), "type": .string("Opaque"),
            "metadata": .object(metadata), "data": .object(encoded),
        ])
        let resource = try await resource(apiVersion: "v1", kind: "Secret")
        let object = Self.describe("Secret", namespace, name)
        let created = try await send(
            "POST", path(resource, namespace: namespace) + "?fieldManager=\(fieldManager)", body: secret.encoded,
            verb: "create", object: object)
        if (200..<300).contains(created.status) { return }
        guard created.status == 409 else {
            throw KubeError.from(
                status: created.status, body: created.body, verb: "create", object: object, cluster: access.name)
        }
        guard var existing = try await get(apiVersion: "v1", kind: "Secret", namespace: namespace, name: name) else {
            throw KubeError(
                .conflict, status: 409, verb: "update", object: object,
                message: "the secret vanished while being updated", cluster: access.name)
        }
        if existing["data"] == .object(encoded) { return }
        existing["data"] = .object(encoded)
        _ = try await expect(
            "PUT", path(resource, namespace: namespace, name: name) + "?fieldManager=\(fieldManager)",
            body: existing.encoded, verb: "update", object: object)
    }
}
