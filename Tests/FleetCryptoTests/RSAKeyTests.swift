// RSA keys: what OpenSSH makes of ours (ssh-keygen reads them and prints the same public key and fingerprints),
// and what we make of OpenSSH's.
import FleetCrypto
import FleetSupport
import Foundation
import Testing

@Suite("RSA keys")
struct RSAKeyTests {
    static let sshKeygen = "/usr/bin/ssh-keygen"
    static let key = try! RSAPrivateKey.generate(bits: 2048)

    @Test func generatesTheRequestedSize() {
        #expect(Self.key.bits == 2048)
        #expect(Self.key.publicKey.openSSH.hasPrefix("ssh-rsa AAAAB3NzaC1yc2E"))
    }

    /// The PEM label of the traditional form `ssh-keygen -m PEM` writes.
    static let traditionalLabel = "RSA PRIVATE KEY"

    @Test func encryptedPEMRoundTrips() throws {
        let pem = try Self.key.pem(passphrase: Secret("correct horse"))
        let lines = pem.reveal().split(separator: "\n")
        #expect(lines.first == "-----BEGIN \(Self.traditionalLabel)-----")
        #expect(
            lines.dropFirst().first == "Proc-Type: 4,ENCRYPTED"
                && lines.dropFirst(2).first?.hasPrefix("DEK-Info: AES-256-CBC,") == true)
        let back = try RSAPrivateKey(pem: pem, passphrase: Secret("correct horse"))
        #expect(back.publicKey == Self.key.publicKey)
    }

    @Test func plainPEMRoundTrips() throws {
        let pem = try Self.key.pem()
        let lines = pem.reveal().split(separator: "\n")
        #expect(
            lines.first == "-----BEGIN \(Self.traditionalLabel)-----"
                && lines.dropFirst().first?.hasPrefix("MII") == true)
        #expect(try RSAPrivateKey(pem: pem).publicKey == Self.key.publicKey)
    }

    @Test func wrongOrMissingPassphraseIsNamed() throws {
        let pem = try Self.key.pem(passphrase: Secret("right"))
        #expect(throws: CryptoError.invalidKey("the private key is encrypted and no passphrase was given")) {
            try RSAPrivateKey(pem: pem)
        }
        do {
            _ = try RSAPrivateKey(pem: pem, passphrase: Secret("wrong"))
            Issue.record("a wrong passphrase was accepted")
        } catch {
            #expect(error.description.hasPrefix("the passphrase does not decrypt the private key"))
        }
    }

    @Test func garbageIsRefused() throws {
        // A generated key's armour around a body that is not base64.
        let lines = try Self.key.pem().reveal().split(separator: "\n")
        let garbage = [String(lines.first!), "not base64", String(lines.last!)].joined(separator: "\n") + "\n"
        do {
            _ = try RSAPrivateKey(pem: Secret(garbage))
            Issue.record("garbage was accepted")
        } catch {
            #expect(error.description.hasPrefix("not a PEM private key"))
        }
    }

    @Test func publicKeyLineParses() throws {
        let line = Self.key.publicKey.openSSH + " comment"
        #expect(SSHPublicKey(openSSH: line) == Self.key.publicKey)
        #expect(SSHPublicKey(openSSH: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOz") == nil)
    }

    @Test func sshKeygenReadsOurKeyAndAgreesOnFingerprints() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.sshKeygen),
            "ssh-keygen is not installed: scripts/install-deps.sh installs it")
        let path = try Self.scratchKeyPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try Self.key.pem(passphrase: Secret("s3cret")).reveal().write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let derived = try Self.run(["-y", "-P", "s3cret", "-f", path])
        #expect(derived.trimmingCharacters(in: .whitespacesAndNewlines) == Self.key.publicKey.openSSH)
        try (Self.key.publicKey.openSSH + "\n").write(toFile: path + ".pub", atomically: true, encoding: .utf8)
        let md5 = try Self.run(["-l", "-E", "md5", "-f", path + ".pub"])
        #expect(md5.contains("MD5:\(Self.key.publicKey.md5Fingerprint) "))
        let sha = try Self.run(["-l", "-f", path + ".pub"])
        #expect(sha.contains("\(Self.key.publicKey.sha256Fingerprint) "))
    }

    @Test func readsAKeyFromSSHKeygen() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.sshKeygen),
            "ssh-keygen is not installed: scripts/install-deps.sh installs it")
        let path = try Self.scratchKeyPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        _ = try Self.run(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "pass phrase", "-f", path, "-C", ""])
        let key = try RSAPrivateKey(
            pem: Secret(String(contentsOfFile: path, encoding: .utf8)), passphrase: Secret("pass phrase"))
        let line = try String(contentsOfFile: path + ".pub", encoding: .utf8)
        #expect(SSHPublicKey(openSSH: line) == key.publicKey)
    }

    /// `<new temporary folder>/id_rsa`.
    static func scratchKeyPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-rsa-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("id_rsa").path
    }

    static func run(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sshKeygen)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
