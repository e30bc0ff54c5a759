// Everything the lab knows at a moment: identities and their secrets, roles, sessions, SSH keys, repositories,
// clusters, and counters of what it served. One lock; every operation on it is short.
import Foundation
import SigV4
import Synchronization

public final class LabState: Sendable {
    public struct Identity: Sendable {
        public var accessKeyID: String
        public var secret: String
        public var sessionToken: String?
        public var expiration: Date?
        /// `arn:aws:iam::<id>:user/<name>` or `arn:aws:sts::<id>:assumed-role/<role>/<session>`.
        public var arn: String
        public var accountID: String
        public var userID: String
        /// The role ARN (`arn:aws:iam::<id>:role/<name>`) for sessions.
        public var roleARN: String?
    }

    public struct SSHKey: Sendable {
        public var id: String
        public var userName: String
        public var accountID: String
        public var body: String
        public var fingerprint: String
        public var active: Bool
        public var uploaded: Date
    }

    struct Data_: Sendable {
        var accounts: [String: String] = [:]  // name → id
        var identities: [String: Identity] = [:]  // access key id → identity
        var users: Set<String> = []  // "<account id>/<user name>"
        var roles: [String: LabConfig.Role] = [:]  // role ARN → role
        var keys: [String: SSHKey] = [:]  // key id → key
        var keyOrder: [String] = []
        var repositories: [LabConfig.Repository] = []
        var clusters: [LabConfig.Cluster] = []
        var counters = LabCounters()
        var gitCredentials: [String: GitCredential] = [:]  // service user name → credential
        var gitCredentialSerial = 0
    }

    /// An IAM service-specific credential for CodeCommit (HTTPS Git credentials).
    public struct GitCredential: Sendable {
        public var id: String
        public var serviceUserName: String
        public var password: String
        public var accountID: String
        public var userName: String
        public var active: Bool
        public var created: Date
    }

    private let data = Mutex(Data_())
    public let sessionSeconds: Int
    /// When the lab's accounts, clusters and repositories came to be (their `createdAt` and `creationDate`).
    public let createdAt: Date
    /// Signing keys the verifiers derive, kept for every request of the same key, day, region and service.
    let signingKeys = SigningKeyCache()
    public let now: @Sendable () -> Date

    public init(config: LabConfig, now: @escaping @Sendable () -> Date = Date.init) {
        self.sessionSeconds = config.sessionSeconds ?? 3600
        self.now = now
        self.createdAt = now()
        data.withLock { d in
            for a in config.accounts { d.accounts[a.name] = a.id }
            for u in config.users {
                let id = d.accounts[u.account]!
                d.users.insert("\(id)/\(u.name)")
                if u.accessKey == true {
                    let akid = Self.deterministicKeyID(prefix: "AKIA", seed: "\(id)/\(u.name)")
                    d.identities[akid] = Identity(
                        accessKeyID: akid, secret: Self.randomSecret(), arn: "arn:aws:iam::\(id):user/\(u.name)",
                        accountID: id, userID: Self.deterministicKeyID(prefix: "AIDA", seed: u.name))
                }
            }
            for r in config.roles { d.roles["arn:aws:iam::\(d.accounts[r.account]!):role/\(r.name)"] = r }
            d.repositories = config.repositories
            d.clusters = config.clusters
        }
    }

    // MARK: Identities

    public func identity(accessKeyID: String) -> Identity? { data.withLock { $0.identities[accessKeyID] } }

    /// The base (long-term) credentials of users with access keys.
    public func userCredentials() -> [Identity] {
        data.withLock { Array($0.identities.values.filter { $0.sessionToken == nil }) }.sorted { $0.arn < $1.arn }
    }

    public func accountID(named name: String) -> String? { data.withLock { $0.accounts[name] } }
    public func accountName(id: String) -> String? { data.withLock { d in d.accounts.first { $0.value == id }?.key } }
    public func role(arn: String) -> LabConfig.Role? { data.withLock { $0.roles[arn] } }
    public func userExists(accountID: String, name: String) -> Bool {
        data.withLock { $0.users.contains("\(accountID)/\(name)") }
    }

    /// A new role session: ASIA… credentials remembered until they expire.
    public func issueSession(roleARN: String, sessionName: String, duration: Int) -> Identity {
        let accountID = String(roleARN.split(separator: ":", omittingEmptySubsequences: false)[4])
        let roleName = String(roleARN.split(separator: "/").last!)
        let identity = Identity(
            accessKeyID: Self.randomKeyID(prefix: "ASIA"), secret: Self.randomSecret(),
            sessionToken: Self.randomSecret(length: 120), expiration: now().addingTimeInterval(Double(duration)),
            arn: "arn:aws:sts::\(accountID):assumed-role/\(roleName)/\(sessionName)", accountID: accountID,
            userID: "\(Self.deterministicKeyID(prefix: "AROA", seed: roleARN)):\(sessionName)", roleARN: roleARN)
        data.withLock { $0.identities[identity.accessKeyID] = identity }
        return identity
    }

    // MARK: SSH keys (IAM rules: five per user, duplicates refused)

    public enum KeyError: Error, Equatable { case noSuchUser, limitExceeded, duplicate, noSuchKey }

    public func uploadKey(accountID: String, userName: String, body: String, fingerprint: String) throws(KeyError)
        -> SSHKey
    {
        try data.withLock { d throws(KeyError) -> SSHKey in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            let mine = d.keyOrder.compactMap { d.keys[$0] }.filter {
                $0.accountID == accountID && $0.userName == userName
            }
            guard mine.count < 5 else { throw .limitExceeded }
            guard !mine.contains(where: { $0.fingerprint == fingerprint }) else { throw .duplicate }
            let key = SSHKey(
                id: Self.randomKeyID(prefix: "APKA"), userName: userName, accountID: accountID, body: body,
                fingerprint: fingerprint, active: true, uploaded: now())
            d.keys[key.id] = key
            d.keyOrder.append(key.id)
            return key
        }
    }

    public func keys(accountID: String, userName: String) throws(KeyError) -> [SSHKey] {
        try data.withLock { d throws(KeyError) -> [SSHKey] in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            return d.keyOrder.compactMap { d.keys[$0] }.filter { $0.accountID == accountID && $0.userName == userName }
        }
    }

    public func key(id: String) -> SSHKey? { data.withLock { $0.keys[id] } }

    public func setKey(accountID: String, userName: String, id: String, active: Bool) throws(KeyError) {
        try data.withLock { d throws(KeyError) in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            guard let key = d.keys[id], key.accountID == accountID, key.userName == userName else { throw .noSuchKey }
            d.keys[id]?.active = active
        }
    }

    public func deleteKey(accountID: String, userName: String, id: String) throws(KeyError) {
        try data.withLock { d throws(KeyError) in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            guard let key = d.keys[id], key.accountID == accountID, key.userName == userName else { throw .noSuchKey }
            d.keys[id] = nil
            d.keyOrder.removeAll { $0 == id }
        }
    }

    public func activeKeys() -> [SSHKey] {
        data.withLock { d in d.keyOrder.compactMap { d.keys[$0] }.filter(\.active) }
    }

    // MARK: HTTPS Git credentials (IAM rules: two per user and service)

    public func createGitCredential(accountID: String, userName: String) throws(KeyError) -> GitCredential {
        try data.withLock { d throws(KeyError) -> GitCredential in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            guard d.gitCredentials.values.filter({ $0.accountID == accountID && $0.userName == userName }).count < 2
            else { throw .limitExceeded }
            let serial = d.gitCredentialSerial
            d.gitCredentialSerial += 1
            let credential = GitCredential(
                id: Self.randomKeyID(prefix: "ACCA"),
                serviceUserName: "\(userName)-at-\(accountID)\(serial == 0 ? "" : "-\(serial)")",
                password: Self.randomSecret(length: 44), accountID: accountID, userName: userName, active: true,
                created: now())
            d.gitCredentials[credential.serviceUserName] = credential
            return credential
        }
    }

    public func gitCredential(serviceUserName: String) -> GitCredential? {
        data.withLock { $0.gitCredentials[serviceUserName] }
    }

    public func gitCredentials(accountID: String, userName: String) throws(KeyError) -> [GitCredential] {
        try data.withLock { d throws(KeyError) -> [GitCredential] in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            return d.gitCredentials.values.filter { $0.accountID == accountID && $0.userName == userName }.sorted {
                $0.created < $1.created
            }
        }
    }

    /// Activates, deactivates (`active`) or deletes (nil) a credential by id.
    public func setGitCredential(accountID: String, userName: String, id: String, active: Bool?) throws(KeyError) {
        try data.withLock { d throws(KeyError) in
            guard d.users.contains("\(accountID)/\(userName)") else { throw .noSuchUser }
            guard
                let credential = d.gitCredentials.values.first(where: {
                    $0.id == id && $0.accountID == accountID && $0.userName == userName
                })
            else { throw .noSuchKey }
            if let active {
                d.gitCredentials[credential.serviceUserName]?.active = active
            } else {
                d.gitCredentials[credential.serviceUserName] = nil
            }
        }
    }

    // MARK: Repositories and clusters

    public var repositories: [LabConfig.Repository] { data.withLock { $0.repositories } }
    public var clusters: [LabConfig.Cluster] { data.withLock { $0.clusters } }

    public func repositories(accountID: String, named name: String) -> [LabConfig.Repository] {
        data.withLock { d in d.repositories.filter { $0.name == name && d.accounts[$0.account] == accountID } }
    }

    // MARK: Counters

    /// One request served (whatever its outcome).
    func count(service: String, operation: String?, cluster: String? = nil, repository: String? = nil) {
        data.withLock { d in
            d.counters.requests[service, default: 0] += 1
            if let operation { d.counters.operations["\(service):\(operation)", default: 0] += 1 }
            if let cluster { d.counters.clusters[cluster, default: 0] += 1 }
            if let repository { d.counters.repositories[repository, default: 0] += 1 }
        }
    }

    func count(_ outcome: LabCounters.Outcome, service: String) {
        data.withLock { d in
            switch outcome {
            case .throttled: d.counters.throttled[service, default: 0] += 1
            case .failed: d.counters.failed[service, default: 0] += 1
            case .denied: d.counters.denied[service, default: 0] += 1
            }
        }
    }

    /// A Git request without credentials, answered with a 401 challenge (counted apart: no service call was made).
    func countChallenge() { data.withLock { $0.counters.operations["git:challenge", default: 0] += 1 } }

    func countPush(repository: String) { data.withLock { $0.counters.pushes[repository, default: 0] += 1 } }

    public func counters() -> LabCounters { data.withLock { $0.counters } }
    public func resetCounters() { data.withLock { $0.counters = LabCounters() } }

    // MARK: Random names

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    static func randomKeyID(prefix: String) -> String {
        prefix + String((0..<16).map { _ in alphabet.randomElement()! })
    }

    static func deterministicKeyID(prefix: String, seed: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var out = prefix
        for i in 0..<16 {
            for b in (seed + String(i)).utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            out.append(alphabet[Int(hash % 32)])
        }
        return out
    }

    /// Hex digits derived from `seed` (resource ids: `vpc-…`, `sg-…`), the same for the same seed.
    static func deterministicHex(seed: String, count: Int) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var out = ""
        for i in 0..<count {
            for b in (seed + String(i)).utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            out.append(String(hash % 16, radix: 16))
        }
        return out
    }

    /// A version-4-shaped UUID derived from `seed`.
    static func deterministicUUID(seed: String) -> String {
        let h = Array(deterministicHex(seed: seed, count: 32))
        let text = String(h[0..<12]) + "4" + String(h[13..<16]) + "8" + String(h[17..<32])
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(Array(text)[range])
        }
        return parts.joined(separator: "-")
    }

    static func randomSecret(length: Int = 40) -> String {
        let chars = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        return String((0..<length).map { _ in chars.randomElement()! })
    }
}

/// What the lab served, so tests and benchmarks can check what a client did.
public struct LabCounters: Codable, Sendable, Equatable {
    enum Outcome { case throttled, failed, denied }

    /// Requests per service: sts, iam, eks, codecommit, git (HTTPS), kubernetes.
    public var requests: [String: Int] = [:]
    /// Requests per `service:operation` (AWS action, Kubernetes verb, Git service).
    public var operations: [String: Int] = [:]
    /// Kubernetes API requests per cluster.
    public var clusters: [String: Int] = [:]
    /// Git over HTTPS requests per `account id/repository`.
    public var repositories: [String: Int] = [:]
    /// Pushes (receive-pack requests that reached Git, over HTTPS) per `account id/repository`.
    public var pushes: [String: Int] = [:]
    /// Answered `Throttling` or 429 (rate limits and injected throttling), per service.
    public var throttled: [String: Int] = [:]
    /// Injected errors, resets and hangs, per service.
    public var failed: [String: Int] = [:]
    /// Refused authentication or authorization, per service.
    public var denied: [String: Int] = [:]
}
