// Verifies a server's X.509 certificate with OpenSSL against a given CA bundle (or the system's), for the host
// name or IP address connected to. libgit2 here uses mbedTLS, which cannot match IP addresses; this does.
import COpenSSL
import Foundation

public enum CertificateVerifier {
    /// Nil when `leafDER` (plus any `intermediatesDER`) chains to a trusted CA and names `host`; otherwise why not.
    /// `trustedPEM` nil trusts the system's CA store.
    public static func verify(leafDER: [UInt8], intermediatesDER: [[UInt8]] = [], trustedPEM: [UInt8]?, host: String)
        -> String?
    {
        guard let leaf = certificate(der: leafDER) else { return "the server's certificate cannot be parsed" }
        defer { X509_free(leaf) }
        guard let store = X509_STORE_new() else { return "OpenSSL could not make a certificate store" }
        defer { X509_STORE_free(store) }
        if let trustedPEM {
            let added = trustedPEM.withUnsafeBytes { raw -> Int in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return 0 }
                defer { BIO_free(bio) }
                var count = 0
                while let ca = PEM_read_bio_X509(bio, nil, nil, nil) {
                    if X509_STORE_add_cert(store, ca) == 1 { count += 1 }
                    X509_free(ca)
                }
                ERR_clear_error()  // the end of the bundle reads as an error
                return count
            }
            guard added > 0 else { return "the CA bundle holds no PEM certificate" }
        } else {
            X509_STORE_set_default_paths(store)
        }
        guard let chain = OPENSSL_sk_new_null() else { return "OpenSSL could not make a certificate chain" }
        var intermediates: [OpaquePointer] = []
        defer {
            for certificate in intermediates { X509_free(certificate) }
            OPENSSL_sk_free(chain)
        }
        for der in intermediatesDER {
            guard let certificate = certificate(der: der) else { continue }
            intermediates.append(certificate)
            OPENSSL_sk_push(chain, UnsafeRawPointer(certificate))
        }
        guard let context = X509_STORE_CTX_new() else { return "OpenSSL could not make a verification context" }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf, chain) == 1 else { return "OpenSSL could not start verifying" }
        let parameters = X509_STORE_CTX_get0_param(context)
        let bareHost = host.hasPrefix("[") ? String(host.dropFirst().prefix { $0 != "]" }) : host
        if bareHost.contains(":") || bareHost.allSatisfy({ $0.isNumber || $0 == "." }) {
            guard X509_VERIFY_PARAM_set1_ip_asc(parameters, bareHost) == 1 else {
                return "'\(bareHost)' is not an IP address"
            }
        } else {
            X509_VERIFY_PARAM_set1_host(parameters, bareHost, 0)
        }
        if X509_verify_cert(context) == 1 { return nil }
        let code = X509_STORE_CTX_get_error(context)
        let reason = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
        ERR_clear_error()
        return "certificate verification failed for \(bareHost): \(reason)"
    }

    private static func certificate(der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var pointer = buffer.baseAddress
            return d2i_X509(nil, &pointer, buffer.count)
        }
    }
}
