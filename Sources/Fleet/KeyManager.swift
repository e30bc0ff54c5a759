// SSH keys of the fleet's identities: a cluster over SSH needs an Active IAM key whose private half fleetstrap
// holds. The private half is kept encrypted with the identity's passphrase (PEM, AES-256-CBC, mode 0600), never in
// clear; the ledger records ids and fingerprints only. One key is made per identity when none is usable: RSA, off
// the cooperative pool, uploaded once even when a hundred clusters ask at once.
import AWS
import FleetCrypto
import FleetSupport
import Foundation
import Inventory
import Ledger

public struct SSHKeyMaterial: Sendable {
    public var keyID: String
    public var privateKeyPEM: Secret
    public var passphrase: Secret
    public var publicKey: String
    public var fingerprint: String
    /// Made and uploaded by this run.
    public var created: Bool
}

public actor KeyManager {
    let directory: String
    let ledger: Ledger
    let environment: [String: String]
    private var inFlight: [String: Task<SSHKeyMaterial, any Error>] = [:]

    /// `directory`: where encrypted private keys are kept (one file per key id).
    public init(directory: String, ledger: Ledger, environment: [String: String] = ProcessInfo.processInfo.environment)
    {
        self.directory = directory
        self.ledger = ledger
        self.environment = environment
    }

    public struct KeyError: FleetError {
        public let identity: String
        public let message: String
        public let hint: String?
        public var description: String { "identity \(identity): \(message)" }
        public var errorClass: String { "keys" }
    }

    /// A usable key for `identity` if one exists (a dry run's question); nil when one would be made.
    public func existingKey(
        for identity: Identity, accountID: String, iam: IAMClient, credentials: any CredentialProvider
    ) async throws -> SSHKeyMaterial? {
        do {
            return try await ensure(
                identity, accountID: accountID, iam: iam, credentials: credentials, runID: nil, create: false)
        } catch is NoUsableKey {
            return nil
        }
    }

    struct NoUsableKey: Error {}

    /// A usable key for `identity`, made and uploaded if there is none.
    public func key(
        for identity: Identity, accountID: String, iam: IAMClient, credentials: any CredentialProvider, runID: String?
    ) async throws -> SSHKeyMaterial {
        if let task = inFlight[identity.name] {
            // Made (or found) for an earlier caller: for this one, nothing was uploaded.
            var key = try await task.value
            key.created = false
            return key
        }
        let task = Task {
            try await self.ensure(identity, accountID: accountID, iam: iam, credentials: credentials, runID: runID)
        }
        inFlight[identity.name] = task
        do {
            let key = try await task.value
            return key
        } catch {
            inFlight[identity.name] = nil
            throw error
        }
    }

    nonisolated private func path(_ accountID: String, _ user: String, _ keyID: String) -> String {
        "\(directory)/\(accountID)/\(user)/\(keyID).pem"
    }

    private func ensure(
        _ identity: Identity, accountID: String, iam: IAMClient, credentials: any CredentialProvider, runID: String?,
        create: Bool = true
    ) async throws -> SSHKeyMaterial {
        let passphrase = try passphrase(identity)
        let keys = try await iam.listSSHPublicKeys(
            userName: identity.iamUser, credentials: credentials, account: identity.account)
        let active = keys.filter { $0.status == .active }.sorted {
            ($0.uploadDate ?? .distantPast) > ($1.uploadDate ?? .distantPast)
        }
        let newestHeld = active.first { holds(keyID: $0.keyID, iamUser: identity.iamUser, accountID: accountID) }
        // An Active key newer than any this state holds belongs to another state (another ledger and state folder, a
        // colleague's run) that is rotating this identity or gave up half-way. Using an older key, or uploading a
        // second one, would split the fleet across keys and be undone by that rotation: say so and touch nothing.
        if let foreign = active.first, foreign.keyID != newestHeld?.keyID,
            (foreign.uploadDate ?? .distantPast) > (newestHeld?.uploadDate ?? .distantPast),
            try await !isPendingUpload(
                foreign.keyID, identity: identity, accountID: accountID, iam: iam, credentials: credentials)
        {
            throw Self.foreignKeyError(
                keyID: foreign.keyID, uploaded: foreign.uploadDate, identity: identity, held: newestHeld?.keyID,
                stateDirectory: directory)
        }
        if let newestHeld { return try material(keyID: newestHeld.keyID, for: identity, accountID: accountID) }
        guard create else { throw NoUsableKey() }
        // A pending key may be one of the five already (uploaded, then the run was stopped): upload adopts it.
        guard keys.count < 5 || FileManager.default.fileExists(atPath: pendingPath(accountID, identity.iamUser)) else {
            throw KeyError(
                identity: identity.name,
                message: "IAM user \(identity.iamUser) already has 5 SSH keys and none of them is one fleetstrap holds",
                hint: "delete an unused key (aws iam delete-ssh-public-key) or run fleetstrap rotate")
        }
        return try await upload(
            identity, accountID: accountID, passphrase: passphrase, iam: iam, credentials: credentials, runID: runID)
    }

    /// Whether this state's key store holds the private half of `keyID`.
    nonisolated public func holds(keyID: String, iamUser: String, accountID: String) -> Bool {
        FileManager.default.fileExists(atPath: path(accountID, iamUser, keyID))
    }

    /// The refusal for an Active key of `identity` that this state does not hold and that is newer than `held`.
    static func foreignKeyError(
        keyID: String, uploaded date: Date?, identity: Identity, held: String?, stateDirectory: String
    ) -> KeyError {
        let uploaded = date.map { " (uploaded \(ISO8601DateFormatter().string(from: $0)))" } ?? ""
        let than =
            held.map { "newer than \($0), the newest this state holds" } ?? "and this state holds none of its keys"
        return KeyError(
            identity: identity.name,
            message: "IAM user \(identity.iamUser) has Active SSH key \(keyID)\(uploaded) whose private half is not in "
                + "\(stateDirectory), \(than): another fleetstrap state (another ledger or state folder, a "
                + "colleague's run) "
                + "is rotating this identity or left a rotation half-way; nothing was changed for it",
            hint: "finish that run with its own --ledger and --state-dir; if it was abandoned, make the key Inactive "
                + "(aws iam update-ssh-public-key --user-name \(identity.iamUser) --ssh-public-key-id \(keyID) "
                + "--status Inactive) and run again")
    }

    /// Whether `keyID` is the key this state was uploading when it stopped (its pending file, same fingerprint).
    func isPendingUpload(
        _ keyID: String, identity: Identity, accountID: String, iam: IAMClient, credentials: any CredentialProvider
    ) async throws -> Bool {
        let pending = pendingPath(accountID, identity.iamUser)
        guard let text = try? String(contentsOfFile: pending, encoding: .utf8),
            let key = try? RSAPrivateKey(pem: Secret(text), passphrase: try passphrase(identity))
        else { return false }
        let uploaded = try await iam.getSSHPublicKey(
            userName: identity.iamUser, keyID: keyID, credentials: credentials, account: identity.account)
        return uploaded.fingerprint == key.publicKey.md5Fingerprint
    }

    /// The identity's passphrase, checked as OpenSSH would.
    nonisolated func passphrase(_ identity: Identity) throws -> Secret {
        let passphrase: Secret
        do {
            passphrase = try identity.passphrase.resolve(environment: environment)
        } catch {
            throw KeyError(
                identity: identity.name, message: "\(error)", hint: "set the passphrase the inventory points to")
        }
        guard passphrase.reveal().count >= 5 else {
            throw KeyError(
                identity: identity.name, message: "the passphrase is shorter than 5 characters (OpenSSH's minimum)",
                hint: nil)
        }
        return passphrase
    }

    /// A new key for `identity` whatever it has (a rotation): made off the cooperative pool, uploaded, its private
    /// half kept encrypted, its id and fingerprint in the ledger. The caller checked IAM's limit of five.
    public func newKey(
        for identity: Identity, accountID: String, iam: IAMClient, credentials: any CredentialProvider, runID: String?
    ) async throws -> SSHKeyMaterial {
        try await upload(
            identity, accountID: accountID, passphrase: try passphrase(identity), iam: iam, credentials: credentials,
            runID: runID)
    }

    /// The key `keyID` of `identity` from the key store (a rotation resumed), checked against the passphrase.
    nonisolated public func material(keyID: String, for identity: Identity, accountID: String) throws -> SSHKeyMaterial
    {
        let passphrase = try passphrase(identity)
        let file = path(accountID, identity.iamUser, keyID)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw KeyError(
                identity: identity.name, message: "the private half of key \(keyID) is not in \(directory)",
                hint: "run with the --state-dir of the run that made the key")
        }
        let privateKey: RSAPrivateKey
        do {
            privateKey = try RSAPrivateKey(pem: Secret(text), passphrase: passphrase)
        } catch {
            throw KeyError(
                identity: identity.name, message: "the key file \(file) does not open with the passphrase: \(error)",
                hint: "check the passphrase; the file is encrypted with it")
        }
        return SSHKeyMaterial(
            keyID: keyID, privateKeyPEM: Secret(text), passphrase: passphrase, publicKey: privateKey.publicKey.openSSH,
            fingerprint: privateKey.publicKey.md5Fingerprint, created: false)
    }

    /// The key being made for an identity, kept before it is uploaded: a run killed between IAM's answer and the
    /// key store's write resumes with the same key instead of leaving an orphan in IAM and making another.
    nonisolated private func pendingPath(_ accountID: String, _ user: String) -> String {
        "\(directory)/\(accountID)/\(user)/pending.pem"
    }

    private func upload(
        _ identity: Identity, accountID: String, passphrase: Secret, iam: IAMClient,
        credentials: any CredentialProvider, runID: String?
    ) async throws -> SSHKeyMaterial {
        let pending = pendingPath(accountID, identity.iamUser)
        let (generated, pem) = try await pendingKey(identity, at: pending, passphrase: passphrase)
        let keyID: String
        do {
            keyID = try await iam.uploadSSHPublicKey(
                userName: identity.iamUser, publicKey: generated.publicKey.openSSH, credentials: credentials,
                account: identity.account
            ).keyID
        } catch let error as AWSError where error.code == "DuplicateSSHPublicKey" {
            // Uploaded by a run that was stopped before it kept the key: the same public key, found by fingerprint.
            guard
                let found = try await uploadedKey(
                    generated.publicKey.md5Fingerprint, identity: identity, iam: iam, credentials: credentials)
            else { throw error }
            keyID = found
        }
        let file = path(accountID, identity.iamUser, keyID)
        guard rename(pending, file) == 0 else {
            throw KeyError(
                identity: identity.name,
                message: "cannot move \(pending) to \(file): \(String(cString: strerror(errno)))",
                hint: "the key \(keyID) was uploaded; run again once the key store is writable")
        }
        try await ledger.record(
            key: SSHKeyRecord(
                keyId: keyID, account: accountID, iamUser: identity.iamUser, identity: identity.name,
                fingerprint: generated.publicKey.md5Fingerprint, uploadedAt: Date()))
        if let runID {
            try? await ledger.event(
                run: runID, "uploaded SSH key \(keyID) for \(identity.iamUser) (\(generated.publicKey.md5Fingerprint))")
        }
        return SSHKeyMaterial(
            keyID: keyID, privateKeyPEM: pem, passphrase: passphrase, publicKey: generated.publicKey.openSSH,
            fingerprint: generated.publicKey.md5Fingerprint, created: true)
    }

    /// The pending key at `path` if one opens with the passphrase, else a new one (made off the cooperative pool),
    /// written there encrypted (0600, whole or not at all) before anything is uploaded.
    private func pendingKey(_ identity: Identity, at path: String, passphrase: Secret) async throws -> (
        RSAPrivateKey, Secret
    ) {
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
            let key = try? RSAPrivateKey(pem: Secret(text), passphrase: passphrase)
        {
            return (key, Secret(text))
        }
        let bits = identity.keyBits
        let generated: RSAPrivateKey = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try RSAPrivateKey.generate(bits: bits) }) }
        }
        let pem = try generated.pem(passphrase: passphrase)
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let partial = "\(path).\(getpid()).partial"
        guard
            FileManager.default.createFile(
                atPath: partial, contents: Data(pem.reveal().utf8), attributes: [.posixPermissions: 0o600]),
            rename(partial, path) == 0
        else {
            unlink(partial)
            throw KeyError(
                identity: identity.name, message: "cannot write \(path)",
                hint: "make the state directory writable; nothing was uploaded")
        }
        return (generated, pem)
    }

    /// The id of `identity`'s key in IAM with this fingerprint, if there is one (at most five to look at).
    private func uploadedKey(
        _ fingerprint: String, identity: Identity, iam: IAMClient, credentials: any CredentialProvider
    ) async throws -> String? {
        for key in try await iam.listSSHPublicKeys(
            userName: identity.iamUser, credentials: credentials, account: identity.account)
        {
            let full = try await iam.getSSHPublicKey(
                userName: identity.iamUser, keyID: key.keyID, credentials: credentials, account: identity.account)
            if full.fingerprint == fingerprint { return key.keyID }
        }
        return nil
    }
}
