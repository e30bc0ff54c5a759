// Discovery as a simulated cluster's API server answers it: the legacy documents (/api's APIVersions, /apis's
// APIGroupList, a group version's APIResourceList), and the aggregated one (an APIGroupDiscoveryList of every group,
// version and resource at /api or /apis in one answer), chosen by the Accept header as Kubernetes chooses it: the
// first media range it can serve. Kubernetes serves aggregated discovery as apidiscovery.k8s.io/v2beta1 from 1.26
// and also as v2 from 1.30 (GA); an older cluster answers with the legacy documents whatever is asked.
import FleetSupport
import Foundation

extension KubernetesAPI {
    /// A document of discovery in answer to GET /api (`core`) or GET /apis.
    func discovery(_ request: LabRequest, store: KubernetesStore, core: Bool) -> LabResponse {
        switch Self.discoveryFormat(request.header("Accept"), served: aggregatedVersions) {
        case nil:
            return Self.status(
                KubernetesError(
                    code: 406, reason: "NotAcceptable",
                    message: "only the following media types are accepted: application/json, "
                        + aggregatedVersions.map(Self.aggregatedMediaType).joined(separator: ", ")))
        case .legacy?:
            return Self.json(core ? versions : groupList(store))
        case .aggregated(let version)?:
            var response = Self.json(aggregated(store, core: core, version: version))
            response.headers = [("Content-Type", Self.aggregatedMediaType(version)), ("Vary", "Accept")]
            return response
        }
    }

    static func aggregatedMediaType(_ version: String) -> String {
        "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList"
    }

    enum DiscoveryFormat: Equatable {
        case legacy
        /// apidiscovery.k8s.io at this version.
        case aggregated(String)
    }

    /// The first media range of `accept` this server serves, in the client's order; nil when none is.
    static func discoveryFormat(_ accept: String?, served: [String]) -> DiscoveryFormat? {
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .legacy }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = parts.first?.lowercased(), ["application/json", "application/*", "*/*"].contains(type)
            else { continue }
            var parameters: [String: String] = [:]
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { parameters[pair[0].lowercased()] = pair[1] }
            }
            guard let target = parameters["as"] else { return .legacy }
            if target == "APIGroupDiscoveryList", parameters["g"] == "apidiscovery.k8s.io",
                let version = parameters["v"], served.contains(version)
            {
                return .aggregated(version)
            }
        }
        return nil
    }

    /// The apidiscovery.k8s.io versions this cluster's Kubernetes serves, preferred first.
    var aggregatedVersions: [String] {
        let minor = Int((cluster.version ?? "1.31").split(separator: ".").last ?? "") ?? 31
        return (minor >= 30 ? ["v2"] : []) + (minor >= 26 ? ["v2beta1"] : [])
    }

    static let verbs: JSONValue = .array(["create", "delete", "get", "list", "patch", "update"].map { .string($0) })

    private var versions: JSONValue {
        .object([
            "kind": .string("APIVersions"), "versions": .array([.string("v1")]),
            "serverAddressByClientCIDRs": .array([
                .object(["clientCIDR": .string("0.0.0.0/0"), "serverAddress": .string(serverAddress)])
            ]),
        ])
    }

    /// Group → its versions, in the order the store's types name them (a CRD's versions as it lists them).
    private func groupVersions(_ store: KubernetesStore, core: Bool) -> [(group: String, versions: [String])] {
        var groups: [String: [String]] = [:]
        for t in store.types where t.group.isEmpty == core && !(groups[t.group]?.contains(t.version) ?? false) {
            groups[t.group, default: []].append(t.version)
        }
        return groups.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private func groupList(_ store: KubernetesStore) -> JSONValue {
        .object([
            "kind": .string("APIGroupList"), "apiVersion": .string("v1"),
            "groups": .array(
                groupVersions(store, core: false).map { group, versions in
                    .object([
                        "name": .string(group),
                        "versions": .array(
                            versions.map {
                                .object(["groupVersion": .string("\(group)/\($0)"), "version": .string($0)])
                            }),
                        "preferredVersion": .object([
                            "groupVersion": .string("\(group)/\(versions[0])"), "version": .string(versions[0]),
                        ]),
                    ])
                }),
        ])
    }

    func resourceList(_ store: KubernetesStore, group: String, version: String) -> JSONValue {
        let resources = store.types.filter { $0.group == group && $0.version == version }.map { t -> JSONValue in
            .object([
                "name": .string(t.plural), "singularName": .string(t.kind.lowercased()),
                "namespaced": .bool(t.namespaced),
                "kind": .string(t.kind), "verbs": Self.verbs, "shortNames": .array(t.shortNames.map { .string($0) }),
            ])
        }
        return .object([
            "kind": .string("APIResourceList"), "apiVersion": .string("v1"),
            "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources),
        ])
    }

    /// Every group (the core group alone for /api), its versions preferred first, and each version's resources.
    private func aggregated(_ store: KubernetesStore, core: Bool, version: String) -> JSONValue {
        let items = groupVersions(store, core: core).map { group, versions -> JSONValue in
            var metadata: [String: JSONValue] = ["creationTimestamp": .null]
            if !group.isEmpty { metadata["name"] = .string(group) }
            return .object([
                "metadata": .object(metadata),
                "versions": .array(
                    versions.map { v in
                        .object([
                            "version": .string(v), "freshness": .string("Current"),
                            "resources": .array(
                                store.types.filter { $0.group == group && $0.version == v }.map { t in
                                    var resource: [String: JSONValue] = [
                                        "resource": .string(t.plural), "singularResource": .string(t.kind.lowercased()),
                                        "responseKind": .object([
                                            "group": .string(group), "version": .string(v), "kind": .string(t.kind),
                                        ]),
                                        "scope": .string(t.namespaced ? "Namespaced" : "Cluster"), "verbs": Self.verbs,
                                    ]
                                    if !t.shortNames.isEmpty {
                                        resource["shortNames"] = .array(t.shortNames.map { .string($0) })
                                    }
                                    return .object(resource)
                                }),
                        ])
                    }),
            ])
        }
        return .object([
            "kind": .string("APIGroupDiscoveryList"), "apiVersion": .string("apidiscovery.k8s.io/\(version)"),
            "metadata": .object([:]),
            "items": .array(items),
        ])
    }
}
