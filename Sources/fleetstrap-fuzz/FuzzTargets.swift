// fleetstrap's parsers of untrusted input, one entry point for all: the inventory's YAML front end, AWS answers
// (Query XML, JSON errors, credential documents, ISO 8601 and X-Amz-Date times), Kubernetes JSON and its `Status`
// errors. The first byte of an input picks the parser; the rest is the input. None may crash, hang or grow without
// bound, whatever the bytes.
@testable import AWS
import FleetSupport
import Foundation
import HTTP
@testable import Inventory
@testable import Kube

enum FuzzTarget: UInt8, CaseIterable {
    case inventory, json, xml, awsError, credentials, kubeStatus, timestamps

    static func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let input = Array(data.dropFirst())
        switch allCases[Int(first) % allCases.count] {
        case .inventory:
            let collector = DiagnosticCollector()
            _ = InventoryLoader.compose(input, file: "fuzz.yaml", collector: collector)
            if let text = String(validating: input, as: UTF8.self) { _ = InventoryLoader.validate(yaml: text, name: "fuzz.yaml") }
        case .json:
            if let value = JSONValue.parse(input) {
                // What is read back must be written and read again unchanged.
                guard JSONValue.parse(value.encoded) == value else { fatalError("JSON round trip changed a value") }
            }
        case .xml:
            if let node = XMLNode.parse(input) {
                _ = node.find("Error")?["Code"]?.text
                if let member = node.find("member") {
                    _ = IAMClient.key(member)
                    _ = IAMClient.gitCredential(member)
                }
            }
        case .awsError:
            let response = HTTPResponse(status: 400 + Int(input.first ?? 0) % 200, headers: [("x-amzn-RequestId", "fuzz")], body: input)
            _ = AWSError.parse(response, service: "sts", operation: "AssumeRole").description
        case .credentials:
            _ = try? ContainerCredentialProvider.parse(input, source: "fuzz")
        case .kubeStatus:
            let body = JSONValue.parse(input)
            _ = KubeError.from(status: 400 + Int(input.first ?? 0) % 200, body: body, verb: "apply", object: "fuzz", cluster: "fuzz").description
        case .timestamps:
            let text = String(decoding: input, as: UTF8.self)
            _ = AWSTimestamp.parseISO8601(text)
            _ = AWSTimestamp.parseAmzDate(text)
        }
    }
}
