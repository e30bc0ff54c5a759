// SHA-256 and HMAC-SHA256 through OpenSSL's one-shot EVP calls: the hashing behind SigV4 and manifest pins.
import COpenSSL
import Foundation

public enum SHA256 {
    public static let byteCount = 32

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                var length: UInt32 = 0
                let ok = EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
                precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed: OpenSSL is unusable")
            }
        }
        return out
    }

    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }
}

public enum HMACSHA256 {
    /// HMAC-SHA256 of `message` under `key`.
    public static func authenticate(_ message: some ContiguousBytes, key: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.byteCount)
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    var length: UInt32 = 0
                    // An empty key still needs a valid pointer.
                    let keyPointer = k.baseAddress ?? UnsafeRawPointer(o.baseAddress!)
                    let result = HMAC(
                        EVP_sha256(), keyPointer, Int32(k.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        m.count, o.baseAddress, &length)
                    precondition(result != nil && length == 32, "HMAC(SHA-256) failed: OpenSSL is unusable")
                }
            }
        }
        return out
    }

    public static func authenticate(_ message: String, key: some ContiguousBytes) -> [UInt8] {
        authenticate(Array(message.utf8), key: key)
    }
}
