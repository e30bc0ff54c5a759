// The fleet as its owner states it: accounts, repositories, SSH identities, clusters, Flux and rollout settings.
// Every cluster here is resolved: defaults applied, references checked, URLs computed.

/// A validated inventory (`apiVersion: fleetstrap.io/v1`, `kind: Fleet`).
public struct Inventory: Sendable {
    public static let apiVersion = "fleetstrap.io/v1"
    public static let kind = "Fleet"

    public var name: String?
    /// The files read, the root first, then includes in the order they were reached.
    public var files: [String]
    public var accounts: [Account]
    public var repositories: [Repository]
    public var identities: [Identity]
    public var clusters: [Cluster]
    public var rollout: Rollout

    public func account(named name: String) -> Account? { accounts.first { $0.name == name } }
    public func repository(named name: String) -> Repository? { repositories.first { $0.name == name } }
    public func identity(named name: String) -> Identity? { identities.first { $0.name == name } }
    public func cluster(named name: String) -> Cluster? { clusters.first { $0.name == name } }
}

/// An AWS account fleetstrap works in, and the role it assumes there.
public struct Account: Sendable, Hashable {
    public var name: String
    /// Twelve digits, as a string (leading zeros matter).
    public var id: String
    /// The role to assume; without one, the caller's own credentials are used in this account.
    public var roleARN: String?
    public var externalID: String?
    public var sessionName: String
    public var durationSeconds: Int
    public var region: String?
    public var location: SourceLocation
}

/// How Flux and fleetstrap reach a CodeCommit repository.
public enum GitTransport: String, Sendable, Hashable, CaseIterable {
    /// SSH with an IAM user's SSH public key; the URL's user is the key's SSHPublicKeyId.
    case ssh
    /// HTTPS with IAM credentials (SigV4 Git passwords; Flux 2.9+ `provider: aws`).
    case https
    /// HTTPS with IAM HTTPS Git credentials (a service-specific user name and password).
    case httpsToken = "https-token"
}

/// A CodeCommit repository that holds the manifests of one or more clusters.
public struct Repository: Sendable, Hashable {
    public var name: String
    public var account: String
    public var region: String
    /// The CodeCommit repository name (the last segment of `/v1/repos/<name>`).
    public var codecommitName: String
    /// The Git host, CodeCommit's regional host unless an endpoint override (VPC endpoint, lab) is set.
    public var host: String
    public var port: Int?
    public var branch: String
    public var transport: GitTransport
    /// The SSH identity (for `ssh`).
    public var identity: String?
    /// The SSH key id pinned in the inventory's URL, if it named one.
    public var pinnedKeyID: String?
    /// IAM HTTPS Git credentials (for `https-token`): the user name as written, or where to read it
    /// (`{file: …}` lets `fleetstrap rotate` write the new one there).
    public var username: String?
    public var usernameReference: SecretReference?
    public var password: SecretReference?
    public var location: SourceLocation

    /// The https-token user name, read now.
    public func gitUsername(environment: [String: String]) throws -> String? {
        if let usernameReference { return try usernameReference.resolve(environment: environment).reveal() }
        return username
    }

    /// `/v1/repos/<name>`, the path CodeCommit serves the repository at.
    public var path: String { "/v1/repos/\(codecommitName)" }

    /// The clone URL for this repository, with `user` as the SSH user (the SSH key id) when given.
    public func url(sshUser: String? = nil) -> String {
        let hostPort = port.map { "\(host):\($0)" } ?? host
        switch transport {
        case .ssh:
            let user = (sshUser ?? pinnedKeyID).map { "\($0)@" } ?? ""
            return "ssh://\(user)\(hostPort)\(path)"
        case .https, .httpsToken:
            return "https://\(hostPort)\(path)"
        }
    }
}

/// An IAM user whose SSH keys Flux uses, one machine user per identity.
public struct Identity: Sendable, Hashable {
    public var name: String
    public var account: String
    public var iamUser: String
    public var keyBits: Int
    public var passphrase: SecretReference
    public var maxKeyAge: Duration?
    public var location: SourceLocation
}

/// Where a cluster's Kubernetes API is reached.
public enum ClusterAccess: Sendable, Hashable {
    /// Through EKS: DescribeCluster for endpoint and CA, an EKS token for authentication.
    case eks(clusterName: String)
    /// Through a kubeconfig context (`path` nil: `KUBECONFIG` or `~/.kube/config`).
    case kubeconfig(context: String, path: String?)
}

/// A cluster to bootstrap, with every default applied.
public struct Cluster: Sendable, Hashable {
    public var name: String
    public var account: String
    public var region: String
    public var access: ClusterAccess
    public var repository: String
    /// The cluster's directory in the repository, relative, without a leading `./` (e.g. `clusters/prod-eu-1`).
    public var path: String
    public var labels: [String: String]
    public var flux: FluxSettings
    public var location: SourceLocation
}

/// Rollout settings for a whole run.
public struct Rollout: Sendable, Hashable {
    /// Cumulative wave sizes: `[1, 10%, 100%]` means one cluster, then up to 10% of the fleet, then the rest.
    public enum Size: Sendable, Hashable, CustomStringConvertible {
        case count(Int)
        case percent(Double)

        public var description: String {
            switch self {
            case .count(let n): "\(n)"
            case .percent(let p): p == p.rounded() ? "\(Int(p))%" : "\(p)%"
            }
        }

        /// How many of `total` clusters this size covers (percentages round up, so 1% of 10 is 1).
        public func count(of total: Int) -> Int {
            switch self {
            case .count(let n): min(n, total)
            case .percent(let p): min(total, Int((Double(total) * p / 100).rounded(.up)))
            }
        }
    }

    public var parallelism: Int
    public var waves: [Size]
    /// How many failures a run tolerates before it stops starting waves.
    public var maxFailures: Size
    public var clusterTimeout: Duration
    /// Requests a second fleetstrap allows itself per (service, account, region), by AWS signing name
    /// (`sts`, `iam`, `eks`, `codecommit`); unset services keep their defaults.
    public var rateLimits: [String: Double] = [:]

    public static let `default` = Rollout(
        parallelism: 10, waves: [.percent(100)], maxFailures: .count(0), clusterTimeout: .seconds(600))

    public static let rateLimitedServices = ["sts", "iam", "eks", "codecommit"]
}
