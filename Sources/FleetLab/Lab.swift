// The lab: one HTTPS listener on 127.0.0.1 for STS, IAM, EKS, CodeCommit and CodeCommit's Git over HTTPS, sshd
// for Git over SSH, and the state file a client needs. Services are told apart the way AWS tells them apart: by
// the SigV4 credential scope's service name, so one endpoint URL serves them all (AWS_ENDPOINT_URL).
import FleetSupport
import Foundation
import Synchronization

public final class Lab: Sendable {
    public struct Options: Sendable {
        public var stateDirectory: String
        public var config: LabConfig
        /// Loopback only; 0 picks a free port.
        public var port = 0
        public var ssh = true
        /// The lab's clock (tests move it to expire sessions and signatures).
        public var now: @Sendable () -> Date = Date.init

        public init(stateDirectory: String, config: LabConfig) {
            self.stateDirectory = stateDirectory
            self.config = config
        }
    }

    /// What a client needs, also written to `<state>/lab.json` and `<state>/lab.env`.
    public struct Info: Codable, Sendable {
        public var endpoint: String
        public var caBundle: String
        public var region: String
        public var accessKeyId: String
        public var secretAccessKey: String
        public var sshPort: Int?
        public var sshKnownHosts: String?
        public var sshUnavailable: String?
        public var repositoriesRoot: String
        public var accounts: [String: String]
        /// Bearer token of the admin endpoint (`<endpoint>/_lab/…`: faults, counters, rival pushes).
        public var adminToken: String
        /// IAM HTTPS Git credentials issued at start: IAM user → service user name (passwords in lab.env).
        public var gitUsers: [String: String]
        var gitPasswords: [String: String]

        /// The environment variable holding an IAM user's HTTPS Git password (`FLEETSTRAP_LAB_GIT_PASSWORD_FLUX_PROD`).
        public static func gitPasswordVariable(user: String) -> String {
            "FLEETSTRAP_LAB_GIT_PASSWORD_"
                + user.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        }
    }

    public let state: LabState
    public let info: Info
    let options: Options
    private let server: Task<Void, any Error>
    private let ssh: LabSSHServer?
    let kubernetes: LabKubernetes
    let faults: FaultInjector
    let rival: RivalPusher

    /// Starts the lab and returns once it listens.
    public static func start(_ options: Options) async throws -> Lab {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: options.stateDirectory).standardizedFileURL.path
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try options.config.check()
        let state = LabState(config: options.config, now: options.now)

        // Repositories: bare, under the state folder, one folder per account.
        let reposRoot = "\(dir)/repos"
        for repo in options.config.repositories {
            let accountID = state.accountID(named: repo.account)!
            let path = "\(reposRoot)/\(accountID)/\(repo.name).git"
            if !fm.fileExists(atPath: path) {
                try fm.createDirectory(atPath: "\(reposRoot)/\(accountID)", withIntermediateDirectories: true)
                let r = try await LabProcess.run("/usr/bin/git", ["init", "-q", "--bare", "-b", "main", path])
                guard r.status == 0 else { throw LabFailure("git init failed: \(r.stderr)") }
                _ = try await LabProcess.run("/usr/bin/git", ["-C", path, "config", "http.receivepack", "true"])
                // No `git gc --auto` after each push: a process per push that the stand-in's short-lived repositories
                // never need (CodeCommit's storage is not Git's), and a sixth of the processes a fleet's pushes cost.
                _ = try await LabProcess.run("/usr/bin/git", ["-C", path, "config", "receive.autogc", "false"])
            }
        }

        // TLS: the lab's CA and a certificate for 127.0.0.1 and localhost.
        let ca = try LabCertificateAuthority(name: "fleetstrap lab CA")
        let (certPEM, keyPEM) = try ca.issueServerCertificate(hosts: ["127.0.0.1", "localhost"])
        let caPath = "\(dir)/ca.pem"
        try ca.certificatePEM.write(toFile: caPath, atomically: true, encoding: .utf8)

        let rival = try RivalPusher(directory: dir, repositoriesRoot: reposRoot)

        // SSH.
        var ssh: LabSSHServer?
        var sshUnavailable: String?
        if options.ssh {
            if let reason = LabSSHServer.unavailableReason() {
                sshUnavailable = reason
            } else {
                let server = LabSSHServer(
                    directory: "\(dir)/ssh", repositoriesRoot: reposRoot, state: state, rival: rival)
                try await server.start()
                ssh = server
            }
        } else {
            sshUnavailable = "disabled by the lab's options"
        }

        // HTTPS.
        let box = Mutex<Lab?>(nil)
        let (port, task): (Int, Task<Void, any Error>)
        do {
            (port, task) = try await LabHTTPServer.start(
                certificatePEM: certPEM, keyPEM: keyPEM, name: "fleetstrap-lab", port: options.port
            ) { request in
                guard let lab = box.withLock({ $0 }) else { return LabResponse(status: 503) }
                return await lab.handle(request)
            }
        } catch {
            ssh?.stop()
            throw error
        }

        // Faults, the rival writer, and the Kubernetes API servers of the simulated clusters (each started when
        // first described) with their controllers.
        let faults = FaultInjector(accounts: options.config.accounts, now: options.now)
        let controllerConfig = options.config.controllers
        var fetcher = SourceFetcher(
            state: state, workDirectory: "\(dir)/controllers", repositoriesRoot: reposRoot, caBundle: caPath,
            sshHostKey: ssh.map { $0.hostKeyLine.split(separator: " ").dropFirst().joined(separator: " ") },
            scaleMode: controllerConfig?.scaleMode ?? false)
        fetcher.allowsKey = { faults.allowsKey(cluster: $0, keyID: $1) }
        var settings = LabControllers.Settings()
        if let delay = controllerConfig?.deploymentDelay.flatMap(DurationText.parse) {
            settings.deploymentDelay = delay.seconds
        }
        if let n = controllerConfig?.concurrentFetches, n > 0 { settings.concurrentFetches = n }
        let kubernetes = LabKubernetes(
            state: state, labSTSHost: "127.0.0.1:\(port)", faults: faults, fetcher: fetcher, settings: settings,
            shared: options.config.sharedClusterListener ?? false)
        faults.changed.withLock { $0 = { [rival] in rival.arm($0, accountIDs: { state.accountID(named: $0) }) } }
        faults.set(options.config.faults ?? LabFaults())

        guard let base = state.userCredentials().first else {
            task.cancel()
            await kubernetes.stop()
            ssh?.stop()
            throw LabFailure("the lab's config names no user with accessKey: true, so no client could sign in")
        }
        let info = Info(
            endpoint: "https://127.0.0.1:\(port)", caBundle: caPath,
            region: options.config.repositories.first?.region ?? options.config.clusters.first?.region ?? "us-east-1",
            accessKeyId: base.accessKeyID, secretAccessKey: base.secret, sshPort: ssh?.port,
            sshKnownHosts: ssh?.hostKeyLine, sshUnavailable: sshUnavailable, repositoriesRoot: reposRoot,
            accounts: Dictionary(uniqueKeysWithValues: options.config.accounts.map { ($0.name, $0.id) }),
            adminToken: LabState.randomKeyID(prefix: "lab-admin-"), gitUsers: [:], gitPasswords: [:])
        var info2 = info
        for user in options.config.users where user.gitCredential == true {
            guard let accountID = state.accountID(named: user.account),
                let credential = try? state.createGitCredential(accountID: accountID, userName: user.name)
            else { continue }
            info2.gitUsers[user.name] = credential.serviceUserName
            info2.gitPasswords[Info.gitPasswordVariable(user: user.name)] = credential.password
        }
        let lab = Lab(
            options: options, state: state, info: info2, server: task, ssh: ssh, kubernetes: kubernetes, faults: faults,
            rival: rival)
        box.withLock { $0 = lab }
        try lab.writeStateFiles(directory: dir)
        return lab
    }

    private init(
        options: Options, state: LabState, info: Info, server: Task<Void, any Error>, ssh: LabSSHServer?,
        kubernetes: LabKubernetes, faults: FaultInjector, rival: RivalPusher
    ) {
        self.faults = faults
        self.rival = rival
        self.options = options
        self.state = state
        self.info = info
        self.server = server
        self.ssh = ssh
        self.kubernetes = kubernetes
    }

    public func stop() async {
        faults.changed.withLock { $0 = nil }
        server.cancel()
        _ = try? await server.value
        await kubernetes.stop()
        ssh?.stop()
    }

    /// The environment a client (fleetstrap, awscli, boto3) uses to reach the lab.
    public var environment: [String: String] {
        [
            "AWS_ENDPOINT_URL": info.endpoint, "AWS_CA_BUNDLE": info.caBundle, "AWS_ACCESS_KEY_ID": info.accessKeyId,
            "AWS_SECRET_ACCESS_KEY": info.secretAccessKey, "AWS_REGION": info.region, "AWS_DEFAULT_REGION": info.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        ].merging(info.gitPasswords) { a, _ in a }
    }

    private func writeStateFiles(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = "\(directory)/lab.json"
        try encoder.encode(info).write(to: URL(fileURLWithPath: json))
        let env =
            environment.sorted { $0.key < $1.key }.map { "export \($0.key)='\($0.value)'" }.joined(separator: "\n")
            + "\n"
        try env.write(toFile: "\(directory)/lab.env", atomically: true, encoding: .utf8)
        for file in [json, "\(directory)/lab.env"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        }
    }

    // MARK: Dispatch

    func handle(_ request: LabRequest) async -> LabResponse {
        if request.path.hasPrefix("/_lab/") { return await LabAdmin(lab: self).handle(request) }
        if request.path.hasPrefix("/v1/repos/") {
            return await GitHTTPService(
                state: state, repositoriesRoot: info.repositoriesRoot, faults: faults, rival: rival
            ).handle(request)
        }
        let isForm = request.header("Content-Type")?.hasPrefix("application/x-www-form-urlencoded") == true
        var parameters = isForm ? request.form : [:]
        for (k, v) in request.query where !k.hasPrefix("X-Amz-") { parameters[k] = v }
        guard let scope = LabSigV4Verifier.scope(of: request) else {
            if parameters["Action"] == "AssumeRoleWithWebIdentity" {
                state.count(service: "sts", operation: "AssumeRoleWithWebIdentity")
                return STSService(state: state).handle(parameters, caller: nil)
            }
            state.count(.denied, service: "unsigned")
            return LabError.from(.missing, json: false).response(protocol: .query(namespace: STSService.namespace))
        }
        let service = scope.service
        let kind: LabProtocol =
            switch service {
            case "eks": .restJSON
            case "codecommit": .json
            case "iam": .query(namespace: IAMService.namespace)
            default: .query(namespace: STSService.namespace)
            }
        let operation: String =
            switch service {
            case "eks":
                request.method == "GET" && request.path.split(separator: "/").count == 2
                    ? "DescribeCluster" : "\(request.method) \(request.path)"
            case "codecommit": (request.header("X-Amz-Target") ?? "").split(separator: ".").last.map(String.init) ?? ""
            default: parameters["Action"] ?? ""
            }
        state.count(service: service, operation: operation)
        let caller: LabSigV4Verifier.Caller
        switch LabSigV4Verifier(state: state).verify(request) {
        case .success(let c): caller = c
        case .failure(let failure):
            state.count(.denied, service: service)
            return LabError.from(failure, json: service == "eks" || service == "codecommit").response(protocol: kind)
        }
        let call = FaultInjector.Call(
            service: service, operation: operation, accountID: caller.identity.accountID, region: caller.region)
        if let injected = await faults.intercept(call, answer: .aws(kind), state: state) { return injected }
        switch service {
        case "sts":
            return STSService(state: state).handle(parameters, caller: caller)
        case "iam":
            return IAMService(state: state, keysChanged: { [ssh] in ssh?.syncKeys() }).handle(
                parameters, caller: caller)
        case "eks":
            return await EKSService(state: state, cluster: { [self] in try await clusterEndpoint($0) }).handle(
                request, caller: caller)
        case "codecommit":
            return CodeCommitService(
                state: state, httpBase: info.endpoint,
                sshBase: { [info] in info.sshPort.map { "ssh://127.0.0.1:\($0)" } }
            )
            .handle(request, caller: caller)
        default:
            return LabError(code: "UnknownService", message: "the lab does not serve \(service)", status: 400)
                .response(protocol: .json)
        }
    }

    // MARK: Faults, counters, rival pushes (also over the admin endpoint)

    /// Replaces the faults in force; unreachable clusters stop listening at once, healed ones listen again.
    public func setFaults(_ faults: LabFaults) async throws {
        try faults.check(options.config)
        self.faults.set(faults)
        await kubernetes.syncReachability()
        kubernetes.controllers.touchAll()
    }

    public func counters() -> LabCounters { state.counters() }

    /// Another writer pushes a commit to `branch` (default: the repository's HEAD) of a repository, now.
    @discardableResult
    public func rivalPush(account: String, repository: String, branch: String? = nil) async throws -> String {
        guard let accountID = state.accountID(named: account) ?? (state.accountName(id: account) != nil ? account : nil)
        else {
            throw LabFailure("no account \(account)")
        }
        return try await rival.push(
            accountID: accountID, repository: repository, ref: branch.map { "refs/heads/\($0)" })
    }

    /// How many looks at `cluster` the simulated controllers began and finished (one at a time; a write they act on,
    /// or new faults, bring another): a test waits for a look that began after a change to know it was seen.
    public func controllerLooks(at cluster: String) -> (began: Int, finished: Int) {
        kubernetes.controllers.looks(at: cluster)
    }

    /// Each cluster's endpoint (its own API server) and its own CA.
    func clusterEndpoint(_ cluster: LabConfig.Cluster) async throws -> (endpoint: String, caPEM: String) {
        try await kubernetes.endpoint(for: cluster)
    }

}
