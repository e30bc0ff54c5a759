// What the lab simulates: accounts, IAM users and roles, CodeCommit repositories, EKS clusters.
import FleetSupport
import Foundation
import Yams

public struct LabConfig: Codable, Sendable {
    public struct Account: Codable, Sendable {
        public var name: String
        public var id: String
        public init(name: String, id: String) { (self.name, self.id) = (name, id) }
    }
    public struct User: Codable, Sendable {
        public var name: String
        public var account: String
        /// Issue long-term access keys for this user (the lab's base credentials).
        public var accessKey: Bool?
        /// Issue an IAM HTTPS Git credential (service-specific, CodeCommit) at start, listed in lab.json.
        public var gitCredential: Bool?
        public init(name: String, account: String, accessKey: Bool? = nil, gitCredential: Bool? = nil) {
            (self.name, self.account, self.accessKey, self.gitCredential) = (name, account, accessKey, gitCredential)
        }
    }
    public struct Role: Codable, Sendable {
        public var name: String
        public var account: String
        /// Principal ARNs or account ids allowed to assume the role; empty: any lab user or session.
        public var trust: [String]?
        public var externalId: String?
        /// Allows AssumeRoleWithWebIdentity (IRSA).
        public var webIdentity: Bool?
        public init(
            name: String, account: String, trust: [String]? = nil, externalId: String? = nil, webIdentity: Bool? = nil
        ) {
            (self.name, self.account, self.trust, self.externalId, self.webIdentity) = (
                name, account, trust, externalId, webIdentity
            )
        }
    }
    public struct Repository: Codable, Sendable {
        public var name: String
        public var account: String
        public var region: String
        public init(name: String, account: String, region: String) {
            (self.name, self.account, self.region) = (name, account, region)
        }
    }
    public struct Cluster: Codable, Sendable {
        public var name: String
        public var account: String
        public var region: String
        /// Role ARNs with cluster-admin (an EKS access entry list); empty: the account's `fleetstrap` role.
        public var admins: [String]?
        public var version: String?
        /// A bearer token with cluster-admin, besides EKS tokens (for kubectl in tests).
        public var staticToken: String?
        public init(
            name: String, account: String, region: String, admins: [String]? = nil, version: String? = nil,
            staticToken: String? = nil
        ) {
            (self.name, self.account, self.region, self.admins, self.version) = (name, account, region, admins, version)
            self.staticToken = staticToken
        }
    }

    public var accounts: [Account]
    public var users: [User]
    public var roles: [Role]
    public var repositories: [Repository]
    public var clusters: [Cluster]
    /// Lifetime of AssumeRole sessions, in seconds (default 3600).
    public var sessionSeconds: Int?
    public var controllers: Controllers?
    /// One HTTPS listener for every cluster's API server, told apart by TLS server name and Host
    /// (`<id>.gr7.<region>.eks.localhost`, which libcurl resolves to loopback), each with its own CA: for labs of
    /// thousands of clusters. Off by default: one port per cluster, which kubectl (Go does not resolve
    /// `*.localhost`) can reach too.
    public var sharedClusterListener: Bool?
    /// Faults in force from the start (changeable while the lab runs: PUT /_lab/faults).
    public var faults: LabFaults?

    /// How the simulated controllers behave.
    public struct Controllers: Codable, Sendable {
        /// How long a Deployment takes to become Available after each spec change (Go duration, default `1s`).
        public var deploymentDelay: String?
        /// Check a GitRepository's credentials against the lab's IAM state and read the ref from the bare
        /// repository, instead of fetching with git and ssh (for benchmarks of thousands of clusters).
        public var scaleMode: Bool?
        /// Fetches at once, lab-wide (default 8).
        public var concurrentFetches: Int?
        public init(deploymentDelay: String? = nil, scaleMode: Bool? = nil, concurrentFetches: Int? = nil) {
            (self.deploymentDelay, self.scaleMode, self.concurrentFetches) = (
                deploymentDelay, scaleMode, concurrentFetches
            )
        }
    }

    public init(accounts: [Account], users: [User], roles: [Role], repositories: [Repository], clusters: [Cluster]) {
        self.accounts = accounts
        self.users = users
        self.roles = roles
        self.repositories = repositories
        self.clusters = clusters
    }

    public static func load(path: String) throws -> LabConfig {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let config = try YAMLDecoder().decode(LabConfig.self, from: text)
        try config.check()
        return config
    }

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// Refuses a configuration the lab cannot serve, with the reason.
    public func validate() throws { try check() }

    func check() throws {
        let accountNames = Set(accounts.map(\.name))
        for a in accounts where a.id.count != 12 || !a.id.allSatisfy(\.isNumber) {
            throw Invalid(description: "account \(a.name): id must be 12 digits")
        }
        for name in users.map(\.account) + roles.map(\.account) + repositories.map(\.account) + clusters.map(\.account)
        where !accountNames.contains(name) {
            throw Invalid(description: "unknown account '\(name)'")
        }
        var seen = Set<String>()
        for r in repositories where !seen.insert("\(r.account)/\(r.name)").inserted {
            throw Invalid(description: "repository \(r.name) appears twice in account \(r.account)")
        }
        var clusterNames = Set<String>()
        for c in clusters where !clusterNames.insert(c.name).inserted {
            throw Invalid(description: "cluster \(c.name) appears twice (the lab's cluster names are unique)")
        }
        if let delay = controllers?.deploymentDelay, DurationText.parse(delay) == nil {
            throw Invalid(description: "controllers.deploymentDelay '\(delay)' is not a duration (e.g. 500ms, 2s)")
        }
        try faults?.check(self)
    }

    /// A fleet of `clusters` clusters over `accounts` accounts and `regions`, with one repository and one SSH
    /// machine user per account, a `fleetstrap` role in each account trusted by the `operator` user.
    public static func generated(accounts: Int, clusters: Int, regions: [String], repositoriesPerAccount: Int = 1)
        -> LabConfig
    {
        var config = LabConfig(
            accounts: [Account(name: "operator", id: "000000000000")],
            users: [User(name: "operator", account: "operator", accessKey: true)], roles: [], repositories: [],
            clusters: [])
        let names = ["prod", "staging", "dev", "sandbox", "shared", "edge", "data", "ml"]
        for i in 0..<accounts {
            let name = i < names.count ? names[i] : "account\(i + 1)"
            let id = String(repeating: String((i + 1) % 10), count: 12)
            config.accounts.append(Account(name: name, id: id))
            config.users.append(User(name: "flux-\(name)", account: name, gitCredential: true))
            config.roles.append(
                Role(
                    name: "fleetstrap", account: name, trust: ["arn:aws:iam::000000000000:user/operator"],
                    externalId: nil))
            for r in 0..<repositoriesPerAccount {
                config.repositories.append(
                    Repository(
                        name: repositoriesPerAccount == 1 ? "fleet-\(name)" : "fleet-\(name)-\(r + 1)", account: name,
                        region: regions[i % regions.count]))
            }
        }
        for c in 0..<clusters {
            let account = config.accounts[1 + c % accounts]
            config.clusters.append(
                Cluster(
                    name: "\(account.name)-\(String(format: "%04d", c + 1))", account: account.name,
                    region: regions[(c / accounts) % regions.count]))
        }
        return config
    }
}
