// The Kubernetes client's reading of error answers (`Status`), reachable by fleetstrap-fuzz through SPI
// (`@_spi(Fuzzing) import Kube`) in any build configuration.
import FleetSupport

@_spi(Fuzzing)
public enum KubeParserProbe {
    public static func status(_ bytes: [UInt8]) {
        let body = JSONValue.parse(bytes)
        _ =
            KubeError.from(
                status: 400 + Int(bytes.first ?? 0) % 200, body: body, verb: "apply", object: "fuzz", cluster: "fuzz"
            ).description
    }
}
