// The lab's own certificate authorities: one for its AWS/CodeCommit listener, one per simulated EKS cluster.
// P-256 keys and X.509 through swift-certificates; everything in memory, PEM on the way out.
import Crypto
import Foundation
import SwiftASN1
import X509

public struct LabCertificateAuthority: Sendable {
    public let name: String
    let key: Certificate.PrivateKey
    public let certificate: Certificate

    /// A new self-signed CA, valid from an hour ago for `days`.
    public init(name: String, days: Int = 30) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("fleetstrap lab")
            CommonName(name)
        }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        self.name = name
        self.key = .init(key)
    }

    /// A server certificate for `hosts` (DNS names and IP addresses), signed by this CA.
    public func issueServerCertificate(hosts: [String], days: Int = 30) throws -> (
        certificatePEM: String, keyPEM: String
    ) {
        let leafKey = P256.Signing.PrivateKey()
        let names: [GeneralName] = hosts.map { host in
            if let address = IPv4Address(host) { return .ipAddress(ASN1OctetString(contentBytes: address.bytes[...])) }
            return .dnsName(host)
        }
        let now = Date()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(hosts.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: key)
        return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
    }

    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }
}

/// Dotted-quad IPv4, for certificate SANs.
struct IPv4Address {
    let bytes: [UInt8]
    init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard let v = UInt8(p) else { return nil }
            bytes.append(v)
        }
        self.bytes = bytes
    }
}
