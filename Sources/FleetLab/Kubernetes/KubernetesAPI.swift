// A simulated EKS cluster's API server over HTTP: bearer authentication (EKS tokens, as EKS checks them), access
// entries, discovery, and get/list/create/update/delete/server-side apply on the cluster's object store.
import FleetSupport
import Foundation
import SigV4
import Yams

struct KubernetesAPI {
    let cluster: LabConfig.Cluster
    let accountID: String
    let tokens: EKSTokenVerifier
    let serverAddress: String

    /// Role (or user) ARNs with cluster-admin: the cluster's access entries, by default the account's fleetstrap role.
    var admins: [String] { cluster.admins ?? ["arn:aws:iam::\(accountID):role/fleetstrap"] }

    func handle(_ request: LabRequest, store: inout KubernetesStore) -> LabResponse {
        // What system:public-info-viewer lets anyone read, as on EKS: health checks and the version.
        if request.method == "GET", ["/healthz", "/livez", "/readyz"].contains(request.path) {
            return LabResponse(
                status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("ok".utf8))
        }
        if request.method == "GET", request.path == "/version" { return route(request, store: &store) }
        // Authentication.
        guard let authorization = request.header("Authorization"), authorization.hasPrefix("Bearer ") else {
            return Self.status(KubernetesError(code: 401, reason: "Unauthorized", message: "Unauthorized"))
        }
        let token = String(authorization.dropFirst("Bearer ".count))
        if token != cluster.staticToken {
            switch tokens.verify(token: token, cluster: cluster.name) {
            case .success(let identity):
                // EKS maps an authenticated principal through its access entries; one with none is not a user of the
                // cluster at all: 401, as aws-iam-authenticator answers an unmapped ARN.
                let principal = identity.roleARN ?? identity.arn
                guard admins.contains(principal) else {
                    return Self.status(KubernetesError(code: 401, reason: "Unauthorized", message: "Unauthorized"))
                }
            case .failure:
                return Self.status(KubernetesError(code: 401, reason: "Unauthorized", message: "Unauthorized"))
            }
        }
        return route(request, store: &store)
    }

    /// `dryRunDone`: the request already runs on a copy of the store.
    private func route(_ request: LabRequest, store: inout KubernetesStore, dryRunDone: Bool = false) -> LabResponse {
        let segments = request.path.split(separator: "/").map { PercentEncoding.decode($0) }
        switch (request.method, segments.first) {
        case ("GET", "version"):
            return Self.json(
                .object([
                    "major": .string("1"),
                    "minor": .string(String((cluster.version ?? "1.31").split(separator: ".").last ?? "31")),
                    "gitVersion": .string("v\(cluster.version ?? "1.31").0-eks-fleetstrap-lab"),
                    "platform": .string("linux/amd64"),
                ]))
        case ("GET", "api") where segments.count == 1, ("GET", "apis") where segments.count == 1:
            return discovery(request, store: store, core: segments.first == "api")
        default:
            break
        }
        // /api/v1/... or /apis/<group>/<version>/...
        let group: String
        let version: String
        let rest: ArraySlice<String>
        if segments.first == "api", segments.count >= 2 {
            (group, version, rest) = ("", segments[1], segments.dropFirst(2))
        } else if segments.first == "apis", segments.count >= 3 {
            (group, version, rest) = (segments[1], segments[2], segments.dropFirst(3))
        } else {
            return Self.status(
                KubernetesError(
                    code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        if rest.isEmpty, request.method == "GET",
            store.types.contains(where: { $0.group == group && $0.version == version })
        {
            return Self.json(resourceList(store, group: group, version: version))
        }
        var parts = Array(rest)
        var namespace: String?
        if parts.count >= 3, parts[0] == "namespaces" {
            namespace = parts[1]
            parts.removeFirst(2)
        }
        guard let plural = parts.first, let type = store.type(group: group, version: version, plural: plural) else {
            return Self.status(
                KubernetesError(
                    code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        let name = parts.count > 1 ? parts[1] : nil
        if type.kind == "SelfSubjectAccessReview" {
            // Only callers with an access entry get this far, and every entry is cluster-admin: all is allowed.
            guard request.method == "POST", name == nil, let review = try? body(request) else {
                return Self.status(
                    KubernetesError(
                        code: 405, reason: "MethodNotAllowed", message: "create a SelfSubjectAccessReview with POST"))
            }
            return Self.json(
                .object([
                    "apiVersion": .string("authorization.k8s.io/v1"), "kind": .string("SelfSubjectAccessReview"),
                    "spec": review["spec"] ?? .object([:]),
                    "status": .object(["allowed": .bool(true), "reason": .string("cluster-admin by EKS access entry")]),
                ]), status: 201)
        }
        // The API server reads its query as Go's url.ParseQuery does: `+` is a space (kubectl sends selectors so).
        let query = Dictionary(
            PercentEncoding.parseQuery(request.rawQuery.replacingOccurrences(of: "+", with: "%20")),
            uniquingKeysWith: { a, _ in a })
        // dryRun=All: admitted, validated and answered as if stored, and nothing is (the writes go to a copy).
        if query["dryRun"] == "All", request.method != "GET", !dryRunDone {
            var scratch = store
            return route(request, store: &scratch, dryRunDone: true)
        }
        do {
            switch (request.method, name) {
            case ("GET", nil):
                let list = store.list(type, namespace: namespace)
                guard let text = query["labelSelector"], !text.isEmpty else { return Self.json(list) }
                guard let selector = try? LabelSelector(text) else {
                    throw KubernetesError.badRequest("unable to parse requirement: \(text)")
                }
                var filtered = list
                filtered["items"] = .array(
                    (list["items"]?.array ?? []).filter { item in
                        let labels = item[path: "metadata.labels"]?.object ?? [:]
                        return selector.matches(labels.compactMapValues(\.string))
                    })
                return Self.json(filtered)
            case ("GET", let name?):
                return Self.json(
                    try store.get(type, namespace: namespace, name: name),
                    reusing: store.encodings(type, namespace: namespace, name: name))
            case ("POST", nil):
                return Self.json(
                    try store.create(
                        Self.named(try body(request)), type: type, namespace: namespace,
                        manager: query["fieldManager"] ?? "unknown"), status: 201)
            case ("PUT", let name?):
                var object = try body(request)
                if object[path: "metadata.name"]?.string != name { object["metadata"]?["name"] = .string(name) }
                if parts.count > 2, parts[2] == "status", let status = object["status"] {
                    try store.setStatus(type, namespace: namespace, name: name, status)
                    return Self.json(try store.get(type, namespace: namespace, name: name))
                }
                return Self.json(
                    try store.update(
                        object, type: type, namespace: namespace, manager: query["fieldManager"] ?? "unknown"))
            case ("PATCH", let name?):
                guard request.header("Content-Type")?.hasPrefix("application/apply-patch+yaml") == true else {
                    throw KubernetesError(
                        code: 415, reason: "UnsupportedMediaType",
                        message: "the lab serves server-side apply patches (application/apply-patch+yaml) only")
                }
                let patch = try parsedBody(request)
                let (object, created) = try store.apply(
                    patch.value, intent: patch.paths, shared: patch.shared, type: type, namespace: namespace,
                    name: name,
                    manager: query["fieldManager"] ?? "", force: query["force"] == "true")
                return Self.json(object, status: created ? 201 : 200, reusing: patch.shared?.encodings ?? [])
            case ("DELETE", let name?):
                return Self.json(try store.delete(type, namespace: namespace, name: name))
            default:
                throw KubernetesError(
                    code: 405, reason: "MethodNotAllowed",
                    message: "\(request.method) is not supported on \(request.path)")
            }
        } catch let error as KubernetesError {
            return Self.status(error)
        } catch {
            return Self.status(KubernetesError(code: 500, reason: "InternalError", message: "\(error)"))
        }
    }

    /// `metadata.generateName` and no name: the API server's name, the prefix and five characters of its alphabet.
    static func named(_ body: JSONValue) -> JSONValue {
        guard body[path: "metadata.name"]?.string == nil, let prefix = body[path: "metadata.generateName"]?.string
        else { return body }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var named = body
        named["metadata"]?["name"] = .string(prefix + String((0..<5).map { _ in alphabet.randomElement()! }))
        return named
    }

    /// JSON or YAML (apply patches are YAML; JSON is YAML too).
    private func body(_ request: LabRequest) throws -> JSONValue {
        guard let value = ParsedBodies.shared.value(request.body, parse: Self.parse) else { throw Self.notAnObject }
        return value
    }

    /// The body and its field paths, shared with every cluster sent the same bytes (`ParsedBodies`).
    private func parsedBody(_ request: LabRequest) throws -> ParsedBodies.Parsed {
        guard let parsed = ParsedBodies.shared.parsed(request.body, parse: Self.parse) else { throw Self.notAnObject }
        return parsed
    }

    private static func parse(_ bytes: [UInt8]) -> JSONValue? {
        if let json = JSONValue.parse(bytes), json.object != nil { return json }
        return (try? Yams.load(yaml: String(decoding: bytes, as: UTF8.self))).map { JSONValue(any: $0) }
    }

    private static let notAnObject = KubernetesError.badRequest("the body is neither JSON nor YAML")

    static func json(_ value: JSONValue, status: Int = 200, reusing known: [EncodedJSON] = []) -> LabResponse {
        LabResponse(
            status: status, headers: [("Content-Type", "application/json")], body: value.encoded(reusing: known))
    }

    static func status(_ error: KubernetesError) -> LabResponse { json(error.status, status: error.code) }
}

extension KubernetesAPI {
    /// The Kubernetes verb of a request (`get`, `list`, `create`, `update`, `patch`, `delete`), or `discovery`.
    static func verb(_ request: LabRequest) -> String {
        var segments = request.path.split(separator: "/").map(String.init)
        switch segments.first {
        case "api": segments.removeFirst(min(2, segments.count))
        case "apis": segments.removeFirst(min(3, segments.count))
        default: return "discovery"
        }
        if segments.count >= 3, segments[0] == "namespaces" { segments.removeFirst(2) }
        switch request.method {
        case "GET": return segments.isEmpty ? "discovery" : segments.count == 1 ? "list" : "get"
        case "POST": return "create"
        case "PUT": return "update"
        case "PATCH": return "patch"
        case "DELETE": return "delete"
        default: return request.method.lowercased()
        }
    }
}
