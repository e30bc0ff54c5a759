// base64url without padding (RFC 4648 §5), the encoding of EKS bearer tokens.
import Foundation

public enum Base64URL {
    /// Encodes with `-` and `_` and drops the `=` padding, as aws-iam-authenticator does.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let standard = Data(bytes).base64EncodedString()
        var out = ""
        out.reserveCapacity(standard.utf8.count)
        for c in standard {
            switch c {
            case "+": out.append("-")
            case "/": out.append("_")
            case "=": continue
            default: out.append(c)
            }
        }
        return out
    }

    /// Decodes base64url with or without padding; nil when the text is not base64url.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var standard = String(text).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        while standard.utf8.count % 4 != 0 { standard.append("=") }
        return Data(base64Encoded: standard).map { Array($0) }
    }
}
