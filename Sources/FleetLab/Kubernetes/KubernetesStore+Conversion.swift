// What the API server changes in a body before it stores or tracks anything, as its v1 conversions do.
import FleetSupport
import Foundation

extension KubernetesStore {
    /// The body as the API server stores it: a Secret's write-only `stringData` merged into `data` (base64), as the
    /// v1 conversion does before anything is stored or tracked.
    static func converted(_ body: JSONValue, type: ResourceType) -> JSONValue {
        guard type.group.isEmpty, type.kind == "Secret", case .object(var object) = body,
            let strings = object["stringData"]?.object
        else { return body }
        var data = object["data"]?.object ?? [:]
        for (key, value) in strings { data[key] = .string(Data((value.string ?? "").utf8).base64EncodedString()) }
        object["data"] = .object(data)
        object["stringData"] = nil
        return .object(object)
    }
}
