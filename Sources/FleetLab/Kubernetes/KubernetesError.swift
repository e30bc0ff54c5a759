// The errors the simulated API server answers with, as Kubernetes renders them.
import FleetSupport

/// An API error, rendered as the `Status` object Kubernetes answers with.
public struct KubernetesError: Error, Equatable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String

    public var description: String { "\(code) \(reason): \(message)" }

    public init(code: Int, reason: String, message: String) {
        (self.code, self.reason, self.message) = (code, reason, message)
    }

    public var status: JSONValue {
        .object([
            "kind": .string("Status"), "apiVersion": .string("v1"), "metadata": .object([:]),
            "status": .string("Failure"), "message": .string(message), "reason": .string(reason),
            "code": .number(Double(code)),
        ])
    }

    static func notFound(_ type: ResourceType, _ name: String) -> Self {
        Self(code: 404, reason: "NotFound", message: "\(type.groupResource) \"\(name)\" not found")
    }
    static func invalid(_ message: String) -> Self { Self(code: 422, reason: "Invalid", message: message) }
    static func badRequest(_ message: String) -> Self { Self(code: 400, reason: "BadRequest", message: message) }
}
