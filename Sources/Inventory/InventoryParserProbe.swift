// The inventory's YAML front end on untrusted bytes, reachable by fleetstrap-fuzz through SPI
// (`@_spi(Fuzzing) import Inventory`) in any build configuration.
import Foundation

@_spi(Fuzzing)
public enum InventoryParserProbe {
    public static func run(_ bytes: [UInt8]) {
        _ = InventoryLoader.compose(bytes, file: "fuzz.yaml", collector: DiagnosticCollector())
        if let text = String(validating: bytes, as: UTF8.self) {
            _ = InventoryLoader.validate(yaml: text, name: "fuzz.yaml")
        }
    }
}
