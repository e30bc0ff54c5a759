// RSA keys for CodeCommit SSH through OpenSSL 3: generate, read and write PEM (optionally encrypted, as
// `ssh-keygen -m PEM` writes it), and the public half as OpenSSH and IAM show it.
import COpenSSL
import FleetSupport
import Foundation

/// An RSA private key held in OpenSSL's memory. The PEM text and passphrase never touch the disk.
// Immutable after init; OpenSSL's EVP_PKEY is thread-safe to read
public final class RSAPrivateKey: @unchecked Sendable {
    private let key: OpaquePointer

    private init(key: OpaquePointer) { self.key = key }
    deinit { EVP_PKEY_free(key) }

    /// A new key. RSA-4096 takes a second or two: call it off the cooperative pool, never per cluster in a loop.
    public static func generate(bits: Int) throws(CryptoError) -> RSAPrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw .failed("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
            throw .failed("RSA key generation setup (\(bits) bits)")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else { throw .failed("EVP_PKEY_generate") }
        return RSAPrivateKey(key: key)
    }

    /// Reads a PEM private key (`RSA PRIVATE KEY`, PKCS#8, encrypted or not).
    public convenience init(pem: Secret, passphrase: Secret? = nil) throws(CryptoError) {
        let text = pem.reveal()
        let parsed: OpaquePointer? = text.withCString { pointer in
            guard let bio = BIO_new_mem_buf(pointer, Int32(strlen(pointer))) else { return nil }
            defer { BIO_free(bio) }
            // With no callback, OpenSSL reads the passphrase from `u` as a C string; an empty one refuses encrypted
            // keys.
            return (passphrase?.reveal() ?? "").withCString { phrase in
                PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: phrase))
            }
        }
        guard let parsed else {
            let reason = CryptoError.lastOpenSSLReason()
            ERR_clear_error()
            if text.contains("ENCRYPTED") {
                throw .invalidKey(
                    passphrase == nil
                        ? "the private key is encrypted and no passphrase was given"
                        : "the passphrase does not decrypt the private key (\(reason))")
            }
            throw .invalidKey("not a PEM private key (\(reason))")
        }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw .invalidKey("the private key is not RSA (CodeCommit accepts RSA keys only)")
        }
        self.init(key: parsed)
    }

    public var bits: Int { Int(EVP_PKEY_get_bits(key)) }

    /// Traditional PEM (`BEGIN RSA PRIVATE KEY`), encrypted with AES-256-CBC when a passphrase is given: the form
    /// `ssh-keygen -m PEM` writes and libssh2 reads.
    public func pem(passphrase: Secret? = nil) throws(CryptoError) -> Secret {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .failed("BIO_new") }
        defer { BIO_free(bio) }
        let written: Int32
        if let phrase = passphrase?.reveal(), !phrase.isEmpty {
            var bytes = Array(phrase.utf8)
            written = PEM_write_bio_PrivateKey_traditional(
                bio, key, EVP_aes_256_cbc(), &bytes, Int32(bytes.count), nil, nil)
            bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        } else {
            written = PEM_write_bio_PrivateKey_traditional(bio, key, nil, nil, 0, nil, nil)
        }
        guard written == 1 else { throw .failed("PEM_write_bio_PrivateKey_traditional") }
        var data: UnsafeMutablePointer<CChar>?
        let length = fs_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { throw .failed("BIO_get_mem_data") }
        return Secret(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
    }

    /// The public half, as SSH encodes it.
    public var publicKey: SSHPublicKey {
        SSHPublicKey(exponent: parameter(OSSL_PKEY_PARAM_RSA_E), modulus: parameter(OSSL_PKEY_PARAM_RSA_N))
    }

    private func parameter(_ name: String) -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key, name, &number) == 1, let number else { return [] }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: Int(fs_BN_num_bytes(number)))
        BN_bn2bin(number, &bytes)
        return bytes
    }
}

/// An `ssh-rsa` public key: the SSH wire blob and the texts made from it.
public struct SSHPublicKey: Sendable, Hashable {
    /// string "ssh-rsa", mpint e, mpint n (RFC 4253 §6.6).
    public let blob: [UInt8]

    public init(exponent: [UInt8], modulus: [UInt8]) {
        var blob: [UInt8] = []
        func append(_ bytes: [UInt8]) {
            let n = UInt32(bytes.count)
            blob += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
        }
        func mpint(_ bytes: [UInt8]) -> [UInt8] {
            let trimmed = Array(bytes.drop { $0 == 0 })
            return trimmed.first.map { $0 & 0x80 != 0 } == true ? [0] + trimmed : trimmed
        }
        append(Array("ssh-rsa".utf8))
        append(mpint(exponent))
        append(mpint(modulus))
        self.blob = blob
    }

    /// Reads the first two fields of an `ssh-rsa AAAA… comment` line.
    public init?(openSSH line: some StringProtocol) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0] == "ssh-rsa", let data = Data(base64Encoded: String(fields[1])) else {
            return nil
        }
        blob = Array(data)
        guard blob.starts(with: [0, 0, 0, 7] + Array("ssh-rsa".utf8)) else { return nil }
    }

    /// `ssh-rsa AAAA…`, the authorized_keys form IAM stores (no comment).
    public var openSSH: String { "ssh-rsa " + Data(blob).base64EncodedString() }

    /// MD5 of the blob as colon-separated hex: the fingerprint IAM reports for SSH public keys.
    public var md5Fingerprint: String {
        var out = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        blob.withUnsafeBytes { _ = EVP_Digest($0.baseAddress, $0.count, &out, &length, EVP_md5(), nil) }
        return out.map { [$0].hexString }.joined(separator: ":")
    }

    /// `SHA256:` and unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    public var sha256Fingerprint: String {
        "SHA256:" + Data(SHA256.hash(blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }
}

public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An OpenSSL call failed for a reason that is not the input's fault.
    case openSSL(String)
    /// The key given is not usable; the text says why and what to check.
    case invalidKey(String)

    public var description: String {
        switch self {
        case .openSSL(let message): "OpenSSL failed: \(message)"
        case .invalidKey(let reason): reason
        }
    }

    /// The failure of `call`, with OpenSSL's reason read now (the error queue is per thread and short-lived).
    static func failed(_ call: String) -> CryptoError {
        defer { ERR_clear_error() }
        return .openSSL("\(call): \(lastOpenSSLReason())")
    }

    static func lastOpenSSLReason() -> String {
        let code = ERR_peek_last_error()
        guard code != 0 else { return "no error recorded" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
