// Who owns the credentials a rotation replaces, and the IAM side of replacing them: an SSH identity (IAM SSH public
// keys, five per user; the key id is the user in every cluster's URL) or an https-token repository (IAM HTTPS Git
// credentials, two per user and service). Listing with status and age; deleting what is safe to delete (retired by
// an earlier rotation longer ago than the grace period, or with --prune-inactive Inactive ones no cluster is known
// to use); refusing at IAM's limit; making the new one; and, once every cluster uses it, retiring the old.
import AWS
import FleetSupport
import Foundation
import Inventory
import Ledger

public struct RotationSettings: Sendable, Codable, Equatable {
    /// Only holders whose current credential is older than this (seconds).
    public var olderThanSeconds: Double?
    public var pruneInactive = false
    public var deleteOld = false
    /// Credentials an earlier rotation made Inactive are deleted by a later rotate once this long has passed (seconds).
    public var graceSeconds: Double = 7 * 86_400
    /// Failed clusters go back to the previous credential (false: left as they are, for inspection).
    public var rollback = true
    /// Only these identities or https-token repositories (empty: all of the selected clusters).
    public var identities: [String] = []
    public init() {}
}

/// The credential clusters are switched to.
enum RotationCredential: Sendable {
    case sshKey(SSHKeyMaterial)
    case token(id: String, username: String, password: Secret)

    var id: String {
        switch self {
        case .sshKey(let key): key.keyID
        case .token(let id, _, _): id
        }
    }

    /// An SSH key's fingerprint, as the ledger records it; nil for a token.
    var fingerprint: String? {
        if case .sshKey(let key) = self { return key.fingerprint }
        return nil
    }
}

enum CredentialHolder: Sendable {
    case identity(Identity)
    /// An https-token repository and the IAM user its credentials belong to.
    case repository(Repository, iamUser: String)

    var name: String {
        switch self {
        case .identity(let identity): identity.name
        case .repository(let repository, _): repository.name
        }
    }

    var kind: RotationRecord.Kind {
        switch self {
        case .identity: .ssh
        case .repository: .httpsToken
        }
    }

    var account: String {
        switch self {
        case .identity(let identity): identity.account
        case .repository(let repository, _): repository.account
        }
    }

    var iamUser: String {
        switch self {
        case .identity(let identity): identity.iamUser
        case .repository(_, let user): user
        }
    }

    /// IAM's limit per user.
    var limit: Int { kind == .ssh ? 5 : 2 }
    var what: String { kind == .ssh ? "SSH key" : "HTTPS Git credential" }

    func uses(_ repository: Repository) -> Bool {
        switch self {
        case .identity(let identity): repository.transport == .ssh && repository.identity == identity.name
        case .repository(let mine, _): repository.name == mine.name
        }
    }

    /// The IAM user of an https-token user name (`jane-at-123456789012`, `jane-at-123456789012-1`).
    static func iamUser(serviceUserName: String) -> String? {
        guard let range = serviceUserName.range(of: "-at-", options: .backwards) else { return nil }
        let user = String(serviceUserName[..<range.lowerBound])
        return user.isEmpty ? nil : user
    }
}

/// One of a holder's credentials in IAM.
struct HeldCredential: Sendable {
    let id: String
    let active: Bool
    let created: Date?
    /// The https-token user name.
    let serviceUserName: String?
}

struct HolderCredentials: Sendable {
    let context: FleetContext
    let holder: CredentialHolder
    let accountID: String
    let settings: RotationSettings
    let now: Date

    private func iam() async throws -> (IAMClient, any CredentialProvider) {
        let region = context.inventory.account(named: holder.account)?.region ?? "us-east-1"
        return (IAMClient(client: context.aws), try await context.credentials(account: holder.account, region: region))
    }

    func list() async throws -> [HeldCredential] {
        let (iam, credentials) = try await iam()
        switch holder {
        case .identity(let identity):
            return try await iam.listSSHPublicKeys(
                userName: identity.iamUser, credentials: credentials, account: identity.account
            ).map {
                HeldCredential(id: $0.keyID, active: $0.status == .active, created: $0.uploadDate, serviceUserName: nil)
            }
        case .repository(let repository, let user):
            return try await iam.listGitCredentials(
                userName: user, credentials: credentials, account: repository.account
            ).map {
                HeldCredential(
                    id: $0.id, active: $0.status == .active, created: $0.created, serviceUserName: $0.serviceUserName)
            }
        }
    }

    /// The credential the clusters are expected to use: for SSH the newest Active key; for https-token the one the
    /// inventory names.
    func current(_ held: [HeldCredential]) throws -> HeldCredential? {
        switch holder {
        case .identity:
            return held.filter(\.active).max { ($0.created ?? .distantPast) < ($1.created ?? .distantPast) }
        case .repository(let repository, _):
            let username = try repository.gitUsername(environment: context.environment)
            return held.first { $0.serviceUserName == username }
        }
    }

    /// Refuses the identity when IAM shows an Active key of it that this state does not hold and that is newer than
    /// the key its clusters use (or the key an unfinished rotation of this state made): another state is rotating it,
    /// or gave up half-way, and switching the clusters now would split them across keys.
    func checkNoForeignRotation(_ held: [HeldCredential], usedBy: [String: [String]], unfinished: RotationRecord?)
        async throws
    {
        guard case .identity(let identity) = holder else { return }
        let keys = context.keys
        let isMine = { (credential: HeldCredential) in
            keys.holds(keyID: credential.id, iamUser: identity.iamUser, accountID: accountID)
        }
        let newest = { (list: [HeldCredential]) in
            list.max { ($0.created ?? .distantPast) < ($1.created ?? .distantPast) }
        }
        let reference =
            unfinished.flatMap { record in held.first { $0.id == record.newKeyId } }
            ?? newest(held.filter { usedBy[$0.id] != nil && isMine($0) })
            ?? newest(held.filter { $0.active && isMine($0) })
        let candidates = held.filter {
            $0.active && !isMine($0) && ($0.created ?? .distantPast) > (reference?.created ?? .distantPast)
        }
        guard let foreign = newest(candidates) else { return }
        let (iam, credentials) = try await iam()
        if try await keys.isPendingUpload(
            foreign.id, identity: identity, accountID: accountID, iam: iam, credentials: credentials)
        {
            return
        }
        throw KeyManager.foreignKeyError(
            keyID: foreign.id, uploaded: foreign.created, identity: identity, held: reference?.id,
            stateDirectory: keys.directory)
    }

    /// Deletes Inactive credentials that are safe to delete; returns their ids. `usedBy`: id → clusters last known to
    /// use it.
    func deleteRetired(_ held: [HeldCredential], usedBy: [String: [String]], runID: String?) async throws -> [String] {
        var deleted: [String] = []
        for credential in held where !credential.active {
            let retired = try await context.ledger.retiredAt(keyID: credential.id)
            let pastGrace = retired.map { now.timeIntervalSince($0) >= settings.graceSeconds } ?? false
            let prunable = settings.pruneInactive && (usedBy[credential.id] ?? []).isEmpty
            guard pastGrace || prunable else { continue }
            try await delete(credential.id)
            if let runID {
                let why = pastGrace ? "retired more than the grace period ago" : "--prune-inactive, no cluster uses it"
                try? await context.ledger.event(
                    run: runID, "deleted Inactive \(holder.what) \(credential.id) of \(holder.iamUser) (\(why))")
            }
            deleted.append(credential.id)
        }
        return deleted
    }

    /// Why a new credential cannot be made (IAM's limit), or nil.
    func refusal(_ held: [HeldCredential], usedBy: [String: [String]]) -> String? {
        guard held.count >= holder.limit else { return nil }
        let inactive = held.filter { !$0.active }
        let inactiveList = inactive.map { credential in
            let users = usedBy[credential.id] ?? []
            return credential.id + (users.isEmpty ? "" : " used by \(users.prefix(3).joined(separator: ", "))")
        }
        let detail =
            inactive.isEmpty
            ? "all \(held.count) are Active; delete one that no cluster uses and run again"
            : "\(inactive.count) \(inactive.count == 1 ? "is" : "are") Inactive "
                + "(\(inactiveList.joined(separator: ", "))); --prune-inactive deletes those no cluster uses"
        return
            "IAM user \(holder.iamUser) has \(held.count) \(holder.what)s, IAM's limit: no room for a new one. "
            + "\(detail)"
    }

    /// Makes the old credentials Inactive (deleted with --delete-old): the last step, once every cluster is switched.
    func retire(_ ids: [String], runID: String) async throws {
        let (iam, credentials) = try await iam()
        for id in ids {
            switch holder {
            case .identity:
                try await iam.updateSSHPublicKey(
                    userName: holder.iamUser, keyID: id, status: .inactive, credentials: credentials,
                    account: holder.account)
                try? await context.ledger.markKey(id, deactivatedAt: now)
            case .repository:
                try await iam.updateGitCredential(
                    userName: holder.iamUser, id: id, status: .inactive, credentials: credentials,
                    account: holder.account)
            }
            try? await context.ledger.event(run: runID, "\(holder.what) \(id) of \(holder.iamUser) made Inactive")
            if settings.deleteOld {
                try await delete(id)
                try? await context.ledger.event(
                    run: runID, "\(holder.what) \(id) of \(holder.iamUser) deleted (--delete-old)")
            }
        }
    }

    private func delete(_ id: String) async throws {
        let (iam, credentials) = try await iam()
        switch holder {
        case .identity:
            try await iam.deleteSSHPublicKey(
                userName: holder.iamUser, keyID: id, credentials: credentials, account: holder.account)
            try? await context.ledger.markKey(id, deletedAt: now)
        case .repository:
            try await iam.deleteGitCredential(
                userName: holder.iamUser, id: id, credentials: credentials, account: holder.account)
        }
    }

    /// Checks the holder can be rotated at all (an https-token pair must be kept in files fleetstrap can write).
    func checkWritable() throws {
        guard case .repository(let repository, _) = holder else { return }
        guard case .file? = repository.usernameReference, case .file? = repository.password else {
            throw FleetFailure(
                "repository \(repository.name): rotating its HTTPS Git credentials writes the new user name and "
                    + "password where the inventory reads them",
                errorClass: "rotate.token-storage")
        }
    }

    /// A new credential: for SSH a key made, uploaded and kept encrypted; for https-token a credential created and its
    /// user name and password written to the inventory's files (0600) before any cluster uses it.
    func make(runID: String) async throws -> RotationCredential {
        let (iam, credentials) = try await iam()
        switch holder {
        case .identity(let identity):
            return .sshKey(
                try await context.keys.newKey(
                    for: identity, accountID: accountID, iam: iam, credentials: credentials, runID: runID))
        case .repository(let repository, let user):
            try checkWritable()
            let created = try await iam.createGitCredential(
                userName: user, credentials: credentials, account: repository.account)
            guard let password = created.password else {
                throw FleetFailure("IAM created \(created.id) but sent no password", errorClass: "rotate.token")
            }
            try Self.store(username: created.serviceUserName, password: password, repository)
            return .token(id: created.id, username: created.serviceUserName, password: password)
        }
    }

    /// The credential an unfinished rotation made (`id`): the key from the key store, or the pair from the files.
    func adopt(_ id: String) throws -> RotationCredential {
        switch holder {
        case .identity(let identity):
            return .sshKey(try context.keys.material(keyID: id, for: identity, accountID: accountID))
        case .repository(let repository, _):
            guard let username = try repository.gitUsername(environment: context.environment),
                let password = try repository.password?.resolve(environment: context.environment)
            else {
                throw FleetFailure(
                    "repository \(repository.name): its credential files cannot be read",
                    errorClass: "rotate.token-storage")
            }
            return .token(id: id, username: username, password: password)
        }
    }

    /// Writes both files (temporary files renamed over the old ones, mode 0600).
    static func store(username: String, password: Secret, _ repository: Repository) throws {
        guard case .file(let userFile)? = repository.usernameReference,
            case .file(let passwordFile)? = repository.password
        else { return }
        for (path, text) in [(userFile, username), (passwordFile, password.reveal())] {
            let temporary = path + ".fleetstrap-new"
            guard
                FileManager.default.createFile(
                    atPath: temporary, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw FleetFailure("cannot write \(temporary)", errorClass: "rotate.token-storage")
            }
        }
        for path in [userFile, passwordFile] {
            guard rename(path + ".fleetstrap-new", path) == 0 else {
                throw FleetFailure("cannot replace \(path)", errorClass: "rotate.token-storage")
            }
        }
    }
}
