// What every cluster of a run shares: the inventory, AWS clients and one session per account, the ledger, SSH
// keys, Flux manifests (parsed once), one Git writer per repository, pinned host keys, and how long to wait.
import AWS
import FleetSupport
import Flux
import Foundation
import Git
import Inventory
import Kube
import Ledger
import Synchronization

public final class FleetContext: Sendable {
    public let inventory: Inventory
    public let aws: AWSClient
    public let sessions: AccountSessions
    public let ledger: Ledger
    public let keys: KeyManager
    public let manifests: ManifestLibrary
    /// Component files rendered (and parsed) once for the run's clusters that share manifests and options.
    public let renders = RenderCache()
    public let writers: WriterPool
    public let hostKeys: HostKeyPins
    /// CA bundle for Git over HTTPS and nothing else (AWS_CA_BUNDLE); nil: the system's.
    public let caBundle: [UInt8]?
    public let wait: WaitSettings
    public let environment: [String: String]
    /// Kubernetes requests in flight per cluster, from the run's --parallel (`expect(parallel:)`).
    private let kubeConcurrency = Mutex(KubeClient.defaultConcurrency)

    public init(
        inventory: Inventory, aws: AWSClient, baseCredentials: any CredentialProvider, ledger: Ledger,
        stateDirectory: String,
        wait: WaitSettings = WaitSettings(), environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws {
        self.inventory = inventory
        self.aws = aws
        self.sessions = AccountSessions(base: baseCredentials, client: aws)
        self.ledger = ledger
        self.keys = KeyManager(directory: "\(stateDirectory)/keys", ledger: ledger, environment: environment)
        self.manifests = ManifestLibrary(cacheDirectory: "\(stateDirectory)/flux-manifests")
        let known = try await ledger.hostKeys().map { "\($0.host) \($0.keyType) \($0.key)" }.joined(separator: "\n")
        self.hostKeys = HostKeyPins(knownHosts: known)
        self.writers = WriterPool(directory: "\(stateDirectory)/git")
        self.caBundle = environment["AWS_CA_BUNDLE"].flatMap { FileManager.default.contents(atPath: $0) }.map(
            Array.init)
        self.wait = wait
        self.environment = environment
    }

    /// Credentials in an account of the inventory (its role assumed once, shared by all its clusters).
    public func credentials(account name: String, region: String) async throws -> any CredentialProvider {
        guard let account = inventory.account(named: name) else {
            throw FleetFailure("no account \(name) in the inventory")
        }
        return await sessions.credentials(
            for: AccountRole(
                account: account.name, roleARN: account.roleARN, externalID: account.externalID,
                sessionName: account.sessionName,
                durationSeconds: account.durationSeconds, region: account.region ?? region))
    }

    /// A client for the cluster's Kubernetes API: through EKS (DescribeCluster, EKS tokens) or a kubeconfig context.
    public func kubeClient(for cluster: Cluster, credentials: any CredentialProvider) async throws -> KubeClient {
        let access: KubeAccess
        switch cluster.access {
        case .eks(let name):
            access = try await KubeAccess.eks(
                cluster: name, region: cluster.region, describer: EKSClient(client: aws, region: cluster.region),
                credentials: credentials,
                account: cluster.account)
        case .kubeconfig(let contextName, let path):
            access = try Kubeconfig.access(path: path, context: contextName, environment: environment)
        }
        return KubeClient(access: access, concurrency: kubeConcurrency.withLock { $0 })
    }

    /// A run is about to work on `parallel` clusters at once: Git writers and Kubernetes clients made from now on
    /// pace themselves for it.
    public func expect(parallel: Int) async {
        kubeConcurrency.withLock { $0 = KubeClient.concurrency(parallel: parallel) }
        await writers.expect(parallel: parallel)
    }

    /// Saves the host keys pinned during the run (trust on first use, then pinned for every later run).
    public func saveHostKeys() async {
        for line in hostKeys.knownHosts.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 3 else { continue }
            try? await ledger.record(
                hostKey: HostKeyRecord(
                    host: fields[0], keyType: fields[1], key: fields[2], firstSeen: Date(), lastSeen: Date()))
        }
    }
}

/// Which writer a cluster's files go through: one per repository and way of reaching it (an SSH key id, or the
/// transport), so clusters that share both share commits. Its text names the writer's local mirror.
struct WriterKey: Hashable, Sendable, CustomStringConvertible {
    let account: String
    let repository: String
    let reachedWith: String

    init(repository: Repository, keyID: String?) {
        self.account = repository.account
        self.repository = repository.name
        self.reachedWith = keyID ?? repository.transport.rawValue
    }

    var description: String { "\(account)-\(repository)-\(reachedWith)" }
}

/// One writer per repository (and SSH key id), made on first use.
public actor WriterPool {
    let directory: String
    private var writers: [String: RepositoryWriter] = [:]
    /// How long a writer's batch waits for more clusters; zero when clusters run one at a time (nobody can join).
    private var gatherWindow = RepositoryWriter.Options().gatherWindow

    init(directory: String) { self.directory = directory }

    func writer(key writerKey: WriterKey, remote: GitRemote, branch: String) throws -> RepositoryWriter {
        let key = writerKey.description
        if let writer = writers[key] { return writer }
        var options = RepositoryWriter.Options()
        options.branch = branch
        options.gatherWindow = gatherWindow
        let safe = key.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        let writer = try RepositoryWriter(
            remote: remote, localPath: "\(directory)/\(String(safe)).git", options: options)
        writers[key] = writer
        return writer
    }

    /// For writers made from now on: `parallel` clusters at a time (1: no gather window).
    public func expect(parallel: Int) {
        gatherWindow = parallel > 1 ? RepositoryWriter.Options().gatherWindow : .zero
    }

    public func statistics() async -> [String: RepositoryWriter.Statistics] {
        var out: [String: RepositoryWriter.Statistics] = [:]
        for (key, writer) in writers { out[key] = await writer.statistics }
        return out
    }
}

public struct FleetFailure: FleetError {
    public let description: String
    public let errorClass: String
    public init(_ description: String, errorClass: String = "fleet") {
        self.description = description
        self.errorClass = errorClass
    }
}
