// What IAM accepts as an SSH public key for CodeCommit: RSA of at least 2048 bits, as an OpenSSH line or PEM.
import Crypto
import FleetCrypto
import Foundation
import _CryptoExtras

enum SSHPublicKeyParser {
    struct Parsed: Equatable {
        /// `ssh-rsa AAAA…` (what sshd's authorized keys and GetSSHPublicKey with Encoding=SSH hold).
        var openSSHLine: String
        /// MD5 of the key blob, colon-separated, as IAM shows it.
        var fingerprint: String
        var bits: Int
    }

    enum Refusal: Error, Equatable {
        /// Not an SSH or PEM public key at all.
        case unrecognized
        /// A key, but not one IAM takes for CodeCommit (not RSA, or too short).
        case invalid(String)
    }

    static func parse(_ body: String) -> Result<Parsed, Refusal> {
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("-----BEGIN") { return parsePEM(text) }
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else {
            return .failure(.unrecognized)
        }
        var reader = Reader(bytes: Array(blob))
        guard let type = reader.string(), String(decoding: type, as: UTF8.self) == String(fields[0]) else {
            return .failure(.unrecognized)
        }
        guard fields[0] == "ssh-rsa" else {
            return .failure(.invalid("Only RSA keys are supported; found \(fields[0])"))
        }
        guard reader.string() != nil, let modulus = reader.string(), reader.atEnd else {
            return .failure(.unrecognized)
        }
        let bits = bitLength(modulus)
        guard bits >= 2048 else { return .failure(.invalid("The key is \(bits) bits; at least 2048 are required")) }
        return .success(
            Parsed(
                openSSHLine: "ssh-rsa \(fields[1])", fingerprint: SSHPublicKey(openSSH: text)!.md5Fingerprint,
                bits: bits))
    }

    private static func parsePEM(_ text: String) -> Result<Parsed, Refusal> {
        guard let key = try? _RSA.Signing.PublicKey(pemRepresentation: text) else {
            if (try? P256.Signing.PublicKey(pemRepresentation: text)) != nil
                || (try? P384.Signing.PublicKey(pemRepresentation: text)) != nil
            {
                return .failure(.invalid("Only RSA keys are supported"))
            }
            if (try? _RSA.Signing.PublicKey(unsafePEMRepresentation: text)) != nil {
                return .failure(.invalid("The key is shorter than 2048 bits"))
            }
            return .failure(.unrecognized)
        }
        guard let primitives = try? key.getKeyPrimitives() else { return .failure(.unrecognized) }
        let publicKey = SSHPublicKey(exponent: Array(primitives.publicExponent), modulus: Array(primitives.modulus))
        return .success(
            Parsed(openSSHLine: publicKey.openSSH, fingerprint: publicKey.md5Fingerprint, bits: key.keySizeInBits))
    }

    private static func bitLength(_ mpint: [UInt8]) -> Int {
        let bytes = mpint.drop(while: { $0 == 0 })
        guard let first = bytes.first else { return 0 }
        return (bytes.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == bytes.count }
        mutating func string() -> [UInt8]? {
            guard offset + 4 <= bytes.count else { return nil }
            let n =
                Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8
                | Int(bytes[offset + 3])
            offset += 4
            guard n <= bytes.count - offset else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
    }
}
