// fleetstrap's parsers of untrusted input, one entry point for all: the inventory's YAML front end, AWS answers
// (Query XML, JSON errors, credential documents, ISO 8601 and X-Amz-Date times, shared config files), Kubernetes JSON
// and its `Status` errors. The first byte of an input picks the parser; the rest is the input. None may crash, hang or
// grow without bound, whatever the bytes.
@_spi(Fuzzing) import AWS
import FleetSupport
@_spi(Fuzzing) import Inventory
@_spi(Fuzzing) import Kube

enum FuzzTarget: UInt8, CaseIterable {
    case inventory, json, xml, awsError, credentials, kubeStatus, timestamps, awsConfig

    static func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let input = Array(data.dropFirst())
        switch allCases[Int(first) % allCases.count] {
        case .inventory: InventoryParserProbe.run(input)
        case .json:
            if let value = JSONValue.parse(input) {
                // What is read back must be written and read again unchanged.
                guard JSONValue.parse(value.encoded) == value else { fatalError("JSON round trip changed a value") }
            }
        case .xml: AWSParserProbes.xml(input)
        case .awsError: AWSParserProbes.error(input)
        case .credentials: AWSParserProbes.containerCredentials(input)
        case .kubeStatus: KubeParserProbe.status(input)
        case .timestamps: AWSParserProbes.timestamps(input)
        case .awsConfig: AWSParserProbes.sharedConfig(input)
        }
    }
}
