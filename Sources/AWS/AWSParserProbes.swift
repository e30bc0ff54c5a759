// The AWS module's parsers of untrusted bytes, reachable by fleetstrap-fuzz through SPI (`@_spi(Fuzzing) import AWS`)
// in any build configuration, without widening the module's public API.
import FleetSupport
import Foundation
import HTTP
import SigV4

@_spi(Fuzzing)
public enum AWSParserProbes {
    /// A Query XML answer, and the IAM records read from its first `member`.
    public static func xml(_ bytes: [UInt8]) {
        guard let node = XMLNode.parse(bytes) else { return }
        _ = node.find("Error")?["Code"]?.text
        if let member = node.find("member") {
            _ = IAMClient.key(member)
            _ = IAMClient.gitCredential(member)
        }
    }

    /// An error answer in any of AWS's protocols, with a status taken from the input.
    public static func error(_ bytes: [UInt8]) {
        let response = HTTPResponse(
            status: 400 + Int(bytes.first ?? 0) % 200, headers: [("x-amzn-RequestId", "fuzz")], body: bytes)
        _ = AWSError.parse(response, service: "sts", operation: "AssumeRole").description
    }

    /// A container (ECS, EKS Pod Identity) credentials document.
    public static func containerCredentials(_ bytes: [UInt8]) {
        _ = try? ContainerCredentialProvider.parse(bytes, source: "fuzz")
    }

    /// ISO 8601 and X-Amz-Date times.
    public static func timestamps(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = AWSTimestamp.parseISO8601(text)
        _ = AWSTimestamp.parseAmzDate(text)
    }

    /// ~/.aws/config and ~/.aws/credentials.
    public static func sharedConfig(_ bytes: [UInt8]) {
        _ = SharedConfig.parseINI(String(decoding: bytes, as: UTF8.self))
    }
}
