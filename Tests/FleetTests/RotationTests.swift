// SSH key rotation against a lab fleet: every cluster ends up fetching with the new key and the old key is
// Inactive, with one rotation commit per repository; a cluster that cannot use the new key is rolled back and keeps
// working while the old key stays Active, and a resumed run finishes once the fault is gone; IAM's limit of five
// and --older-than are respected.
import AWS
import Fleet
import FleetCrypto
import FleetLab
import FleetSupport
import Foundation
import Git
import Inventory
import Kube
import LabSupport
import Ledger
import TestSupport
import Testing

extension LabFleetSuites {
    @Suite("Fleet: SSH key rotation against the lab", .serialized, .tags(.integration))
    struct RotationTests {
        static let settings = RunSettings(
            parallel: 20, waves: [.percent(100)], maxFailures: .percent(100), clusterTimeoutSeconds: 120)

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func anIdentityOf40ClustersIn2RepositoriesIsRotated() async throws {
            try await LabFleet.with(accounts: 1, clusters: 40, repositoriesPerAccount: 2) { fleet in
                let context = try await fleet.context()
                try await Self.bootstrap(fleet, context)
                let oldKey = try #require(try await Self.activeKeys(fleet).first)
                let headsBefore = try await Self.heads(fleet)

                let summary = try await Self.rotate(fleet, context)
                #expect(summary.run.outcome == .succeeded, "\(summary.run.failed.prefix(3)) \(summary.identities)")
                #expect(summary.run.succeeded.count == 40)
                let outcome = try #require(summary.identities.first)
                #expect(outcome.state == .rotated && outcome.oldKeys == [oldKey])
                let newKey = try #require(outcome.newKey)
                #expect(newKey != oldKey)

                // IAM: the new key Active, the old one Inactive.
                let keys = try await Self.keys(fleet)
                #expect(keys.first { $0.keyID == oldKey }?.status == .inactive)
                #expect(keys.first { $0.keyID == newKey }?.status == .active)
                // Every cluster: the new key id in its URL, and Ready after a fetch requested now (the old key no
                // longer works).
                for cluster in fleet.inventory.clusters {
                    let kube = try await Self.kube(context, cluster)
                    let source = try await Self.fetchNow(kube)
                    #expect(GitURL.parts(source[path: "spec.url"]?.string ?? "")?.user == newKey, "\(cluster.name)")
                    #expect(
                        try await kube.get(
                            apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system-previous")
                            == nil, "previous secret retired on \(cluster.name)")
                }
                // Git: exactly one rotation commit per repository, and gotk-sync.yaml names the new key.
                for (repository, before) in headsBefore {
                    let log = try await GitCLI.output(["-C", repository, "log", "--format=%s", "\(before)..main"])
                    #expect(
                        log.split(separator: "\n").count == 1
                            && log.hasPrefix("Rotate the SSH key of flux-prod to \(newKey)"), "\(repository): \(log)")
                }
                #expect(try await context.ledger.rotations(run: summary.run.runID).first?.state == .retired)
                #expect(try await context.ledger.integrityCheck() == "ok")
            }
        }

        /// A holder with no rotation recorded in the run (its preparation failed, or the run was killed before it was
        /// reached: holders are prepared one after another) is prepared when the run resumes; it used to be skipped,
        /// and the run reported success with that identity's key unrotated (found by the crash campaign).
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aHolderNotYetPreparedWhenTheRunStoppedIsRotatedOnResume() async throws {
            try await LabFleet.with(accounts: 2, clusters: 4) { fleet in
                let context = try await fleet.context()
                // staging's new key cannot be uploaded: its holder is left without a rotation record in the run.
                let (first, stagingBefore) = try await Self.rotationWithStagingRefused(fleet, context)
                // As if the run had been killed before staging's turn: no rotation of it recorded at all.
                await #expect(
                    try context.ledger.rotations(run: first.run.runID).map(\.identity).sorted() == [
                        "flux-prod", "flux-staging",
                    ])
                let removal = try Python.run(
                    [
                        "-c",
                        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"delete from rotation where "
                            + "identity='flux-staging'\"); c.commit()",
                        fleet.ledgerPath,
                    ],
                    input: Data())
                #expect(removal.status == 0, "\(removal.stderr)")
                #expect(try await context.ledger.rotations(run: first.run.runID).map(\.identity) == ["flux-prod"])

                try await fleet.fixture.lab.setFaults(LabFaults())
                let resumed = try await RotationRun(
                    context: context, settings: Self.settings, rotation: RotationSettings()
                ).resume(runID: first.run.runID, progress: { _ in })
                let staging = try #require(
                    resumed.identities.first { $0.identity == "flux-staging" }, "\(resumed.identities)")
                #expect(staging.state == .rotated, "\(staging)")
                let stagingAfter = try await Self.keys(fleet, user: "flux-staging", account: "staging").filter {
                    $0.status == .active
                }.map(\.keyID)
                #expect(stagingAfter.count == 1 && stagingAfter != stagingBefore, "\(stagingBefore) -> \(stagingAfter)")
                #expect(resumed.run.outcome == .succeeded, "\(resumed.run.failed)")
                #expect(try await context.ledger.integrityCheck() == "ok")
            }
        }

        /// Killed after IAM took the new key but before the key store kept it: on resume the key made is that same
        /// key (adopted by fingerprint), and it was also among the Active keys listed, so it was recorded as an old key
        /// too and made Inactive at the end: no Active key left, every cluster on an Inactive one (found by the crash
        /// campaign).
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aKeyIAMTookBeforeTheRunStoppedIsTheNewKeyNotAnOldOne() async throws {
            try await LabFleet.with(accounts: 2, clusters: 4) { fleet in
                let context = try await fleet.context()
                let (first, stagingBefore) = try await Self.rotationWithStagingRefused(fleet, context)
                try await fleet.fixture.lab.setFaults(LabFaults())
                // The stopping point: staging's new key uploaded, its private half still pending in the key store.
                let identity = try #require(fleet.inventory.identities.first { $0.iamUser == "flux-staging" })
                let accountID = try #require(fleet.inventory.account(named: identity.account)?.id)
                let client = try fleet.fixture.client()
                let credentials = try await fleet.fixture.session(identity.account, client: client)
                let uploaded = try await context.keys.newKey(
                    for: identity, accountID: accountID, iam: IAMClient(client: client), credentials: credentials,
                    runID: first.run.runID)
                let folder = "\(fleet.stateDirectory)/keys/\(accountID)/\(identity.iamUser)"
                try FileManager.default.moveItem(
                    atPath: "\(folder)/\(uploaded.keyID).pem", toPath: "\(folder)/pending.pem")

                let resumed = try await RotationRun(
                    context: context, settings: Self.settings, rotation: RotationSettings()
                ).resume(runID: first.run.runID, progress: { _ in })
                let staging = try #require(
                    resumed.identities.first { $0.identity == "flux-staging" }, "\(resumed.identities)")
                #expect(staging.state == .rotated && staging.newKey == uploaded.keyID, "\(staging)")
                #expect(!staging.oldKeys.contains(uploaded.keyID), "the new key is not an old one: \(staging.oldKeys)")
                let stagingAfter = try await Self.keys(fleet, user: "flux-staging", account: "staging").filter {
                    $0.status == .active
                }.map(\.keyID)
                #expect(stagingAfter == [uploaded.keyID], "\(stagingBefore) -> \(stagingAfter)")
                #expect(resumed.run.outcome == .succeeded, "\(resumed.run.failed)")
            }
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aClusterThatCannotUseTheNewKeyIsRolledBackAndResumeFinishes() async throws {
            try await LabFleet.with(accounts: 1, clusters: 6) { fleet in
                let context = try await fleet.context()
                try await Self.bootstrap(fleet, context)
                let oldKey = try #require(try await Self.activeKeys(fleet).first)
                // prod-0003 can only authenticate with the old key.
                try await fleet.fixture.lab.setFaults(LabFaults(allowedSSHKeys: ["prod-0003": [oldKey]]))

                let first = try await Self.rotate(fleet, context)
                #expect(first.run.outcome == .failed)
                #expect(first.run.failed.map(\.cluster) == ["prod-0003"])
                #expect(
                    first.run.failed.first?.error.contains("rolled back to key \(oldKey)") == true,
                    "\(first.run.failed)")
                let outcome = try #require(first.identities.first)
                #expect(outcome.state == .partial)
                let newKey = try #require(outcome.newKey)
                // The old key stays Active; the failed cluster works with it, the others use the new one.
                #expect(try await Self.activeKeys(fleet).sorted() == [oldKey, newKey].sorted())
                for cluster in fleet.inventory.clusters {
                    let kube = try await Self.kube(context, cluster)
                    let source = try await Self.fetchNow(kube)
                    let user = GitURL.parts(source[path: "spec.url"]?.string ?? "")?.user
                    #expect(user == (cluster.name == "prod-0003" ? oldKey : newKey), "\(cluster.name)")
                }
                let records = try await context.ledger.clusters(run: first.run.runID)
                #expect(records.first { $0.cluster == "prod-0003" }?.status == .failed)
                #expect(try await context.ledger.rotations(run: first.run.runID).first?.state == .partial)

                // The fault lifted, the run resumed: the last cluster switches and the old key retires.
                try await fleet.fixture.lab.setFaults(LabFaults())
                let resumed = try await RotationRun(
                    context: context, settings: Self.settings, rotation: RotationSettings()
                ).resume(runID: first.run.runID, progress: { _ in })
                #expect(resumed.run.outcome == .succeeded, "\(resumed.run.failed) \(resumed.identities)")
                #expect(resumed.identities.first?.state == .rotated)
                #expect(try await Self.activeKeys(fleet) == [newKey])
                #expect(try await context.ledger.integrityCheck() == "ok")
            }
        }

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func olderThanSkipsYoungKeysAndTheFiveKeyLimitIsRefusedUnlessPruned() async throws {
            try await LabFleet.with(accounts: 1, clusters: 2) { fleet in
                let context = try await fleet.context()
                try await Self.bootstrap(fleet, context)
                let oldKey = try #require(try await Self.activeKeys(fleet).first)

                // A key made a moment ago is younger than 90 days: nothing happens.
                var young = RotationSettings()
                young.olderThanSeconds = 90 * 86_400
                let skipped = try await Self.rotate(fleet, context, young)
                #expect(skipped.identities.first?.state == .skipped)
                #expect(
                    skipped.identities.first?.message.contains("younger than --older-than 90d") == true,
                    "\(skipped.identities)")
                #expect(try await Self.activeKeys(fleet) == [oldKey])

                // Four more keys, two of them Inactive: five, IAM's limit. The two Active ones are newer than the
                // clusters' key and this state does not hold them: another state's rotation, so the identity is
                // refused first, naming one of them, and nothing changes.
                let (iam, credentials) = try await Self.iam(fleet)
                var extra: [String] = []
                for _ in 0..<4 {
                    let key = try RSAPrivateKeyFactory.make()
                    extra.append(
                        try await iam.uploadSSHPublicKey(
                            userName: "flux-prod", publicKey: key, credentials: credentials, account: "prod"
                        ).keyID)
                }
                for id in extra.prefix(2) {
                    try await iam.updateSSHPublicKey(
                        userName: "flux-prod", keyID: id, status: .inactive, credentials: credentials, account: "prod")
                }
                let foreign = try await Self.rotate(fleet, context)
                let foreignMessage = foreign.identities.first?.message ?? ""
                #expect(foreign.identities.first?.state == .refused)
                #expect(
                    extra.suffix(2).contains { foreignMessage.contains("Active SSH key \($0)") }, "\(foreignMessage)")
                #expect(foreignMessage.contains("another fleetstrap state"), "\(foreignMessage)")
                #expect(try await Self.keys(fleet).count == 5)

                // Made Inactive, as the refusal says to do with an abandoned rotation's keys: IAM's limit refuses it
                // now.
                for id in extra.suffix(2) {
                    try await iam.updateSSHPublicKey(
                        userName: "flux-prod", keyID: id, status: .inactive, credentials: credentials, account: "prod")
                }
                let refused = try await Self.rotate(fleet, context)
                #expect(refused.identities.first?.state == .refused)
                #expect(
                    refused.identities.first?.message.contains("has 5 SSH keys, IAM's limit") == true,
                    "\(refused.identities)")
                #expect(refused.identities.first?.message.contains("--prune-inactive") == true)
                #expect(try await Self.keys(fleet).count == 5)

                // --prune-inactive deletes the four Inactive keys no cluster uses, then rotates.
                var prune = RotationSettings()
                prune.pruneInactive = true
                let pruned = try await Self.rotate(fleet, context, prune)
                #expect(pruned.run.outcome == .succeeded, "\(pruned.run.failed) \(pruned.identities)")
                let after = try await Self.keys(fleet)
                #expect(!after.contains { extra.contains($0.keyID) }, "the Inactive ones were deleted")
                #expect(after.first { $0.keyID == oldKey }?.status == .inactive)
                #expect(
                    after.filter { $0.status == .active }.map(\.keyID)
                        == [pruned.identities.first?.newKey].compactMap { $0 })
            }
        }

        // MARK: Helpers

        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func aClusterWithoutFluxIsToldToBootstrapFirst() async throws {
            try await LabFleet.with(accounts: 1, clusters: 2) { fleet in
                let context = try await fleet.context()
                let first = try #require(fleet.inventory.clusters.first)
                let run = try await FleetRun(context: context, settings: Self.settings).start(
                    command: "bootstrap", clusters: [first], inventoryPath: fleet.inventoryPath,
                    inventoryDigest: "test", progress: { _ in })
                try #require(run.outcome == .succeeded, "\(run.failed)")
                let rotated = try await Self.rotate(fleet, context)
                let failure = try #require(rotated.run.failed.first)
                #expect(failure.cluster == fleet.inventory.clusters[1].name)
                #expect(
                    failure.error.contains("Flux is not bootstrapped here")
                        && failure.error.contains("run fleetstrap bootstrap first"), "\(failure.error)")
                #expect(!failure.error.contains("does not serve"))
            }
        }

        /// A rotation of the whole fleet with `rotation`'s settings.
        static func rotate(
            _ fleet: LabFleet, _ context: FleetContext, _ rotation: RotationSettings = RotationSettings()
        ) async throws -> RotationSummary {
            try await RotationRun(context: context, settings: settings, rotation: rotation).start(
                clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath, inventoryDigest: "test",
                dryRun: false,
                progress: { _ in })
        }

        static func bootstrap(_ fleet: LabFleet, _ context: FleetContext) async throws {
            let run = try await FleetRun(context: context, settings: settings).start(
                command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                inventoryDigest: "test", progress: { _ in })
            try #require(run.outcome == .succeeded, "\(run.failed.prefix(3))")
        }

        /// Bootstraps, then runs a rotation in which IAM refuses staging's new key; returns that run and staging's
        /// Active keys before it.
        static func rotationWithStagingRefused(_ fleet: LabFleet, _ context: FleetContext) async throws -> (
            RotationSummary, [String]
        ) {
            try await bootstrap(fleet, context)
            let before = try await keys(fleet, user: "flux-staging", account: "staging").filter { $0.status == .active }
                .map(\.keyID)
            try await fleet.fixture.lab.setFaults(
                LabFaults(rules: [
                    .init(service: "iam", operation: "UploadSSHPublicKey", account: "staging", error: .internalError)
                ]))
            let run = try await RotationRun(context: context, settings: settings, rotation: RotationSettings()).start(
                clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath, inventoryDigest: "test",
                dryRun: false, progress: { _ in })
            #expect(run.identities.first { $0.identity == "flux-staging" }?.state == .refused, "\(run.identities)")
            return (run, before)
        }

        static func iam(_ fleet: LabFleet) async throws -> (IAMClient, any CredentialProvider) {
            let client = try fleet.fixture.client()
            return (IAMClient(client: client), try await fleet.fixture.session("prod", client: client))
        }

        static func keys(_ fleet: LabFleet, user: String = "flux-prod", account: String = "prod") async throws
            -> [IAMClient.SSHPublicKey]
        {
            let client = try fleet.fixture.client()
            let credentials = try await fleet.fixture.session(account, client: client)
            return try await IAMClient(client: client).listSSHPublicKeys(
                userName: user, credentials: credentials, account: account)
        }

        static func activeKeys(_ fleet: LabFleet) async throws -> [String] {
            try await keys(fleet).filter { $0.status == .active }.map(\.keyID)
        }

        static func kube(_ context: FleetContext, _ cluster: Cluster) async throws -> KubeClient {
            try await context.kubeClient(
                for: cluster,
                credentials: try await context.credentials(account: cluster.account, region: cluster.region))
        }

        /// The cluster's GitRepository fetched now (a reconcile requested and answered Ready): it works with what it
        /// has.
        static func fetchNow(_ kube: KubeClient) async throws -> JSONValue {
            let requested = try await kube.requestReconcile(
                apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
                name: "flux-system")
            return try await kube.waitReady(
                apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", namespace: "flux-system",
                name: "flux-system", revision: nil, requestedAt: requested,
                settings: WaitSettings(timeout: .seconds(30), poll: .milliseconds(200)))
        }

        /// Each repository's bare path → its head now.
        static func heads(_ fleet: LabFleet) async throws -> [String: String] {
            var out: [String: String] = [:]
            for repository in fleet.inventory.repositories {
                let path = fleet.bareRepository(
                    repository.codecommitName, account: fleet.fixture.lab.info.accounts[repository.account]!)
                out[path] = try await GitCLI.output(["-C", path, "rev-parse", "main"])
            }
            return out
        }
    }
}

/// A fresh RSA public key line for IAM.
enum RSAPrivateKeyFactory {
    static func make() throws -> String { try RSAPrivateKey.generate(bits: 2048).publicKey.openSSH }
}

extension LabFleetSuites {
    @Suite("Fleet: HTTPS Git credential rotation against the lab", .serialized, .tags(.integration))
    struct TokenRotationTests {
        @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
        func anHTTPSTokenRepositoryGetsANewCredentialAndTheOldOneRetires() async throws {
            try await LabFleet.with(accounts: 1, clusters: 4, transports: ["https-token"]) { started in
                let context = try await started.context()
                try await RotationTests.bootstrap(started, context)

                // With the password in the environment there is nowhere to keep a new one: refused, nothing made.
                let refused = try await RotationRun(
                    context: context, settings: RotationTests.settings, rotation: RotationSettings()
                ).start(
                    clusters: started.inventory.clusters, inventoryPath: started.inventoryPath, inventoryDigest: "test",
                    dryRun: false, progress: { _ in })
                #expect(refused.identities.first?.state == .refused)
                #expect(
                    refused.identities.first?.message.contains(
                        "writes the new user name and password where the inventory reads them") == true,
                    "\(refused.identities)")
                #expect(try await Self.credentials(started).count == 1)

                // The pair in files (as a rotation needs it).
                let oldUser = try #require(started.fixture.lab.info.gitUsers["flux-prod"])
                let oldPassword = try #require(started.environment[Lab.Info.gitPasswordVariable(user: "flux-prod")])
                let userFile = started.fixture.directory.appendingPathComponent("git-user").path
                let passwordFile = started.fixture.directory.appendingPathComponent("git-password").path
                try oldUser.write(toFile: userFile, atomically: true, encoding: .utf8)
                try oldPassword.write(toFile: passwordFile, atomically: true, encoding: .utf8)
                var text = try String(contentsOfFile: started.inventoryPath, encoding: .utf8)
                text = text.replacingOccurrences(of: "username: \(oldUser)", with: "username: {file: \(userFile)}")
                text = text.replacingOccurrences(
                    of: "password: {env: \(Lab.Info.gitPasswordVariable(user: "flux-prod"))}",
                    with: "password: {file: \(passwordFile)}")
                try text.write(toFile: started.inventoryPath, atomically: true, encoding: .utf8)
                let fleet = LabFleet(
                    fixture: started.fixture, inventory: try InventoryLoader.load(path: started.inventoryPath),
                    inventoryPath: started.inventoryPath,
                    ledgerPath: started.ledgerPath, stateDirectory: started.stateDirectory)
                let fileContext = try await fleet.context()

                let summary = try await RotationRun(
                    context: fileContext, settings: RotationTests.settings, rotation: RotationSettings()
                ).start(
                    clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath, inventoryDigest: "test",
                    dryRun: false, progress: { _ in })
                #expect(summary.run.outcome == .succeeded, "\(summary.run.failed) \(summary.identities)")
                let outcome = try #require(summary.identities.first)
                #expect(outcome.identity == "fleet-prod" && outcome.iamUser == "flux-prod" && outcome.state == .rotated)
                // IAM: the new credential Active, the old one Inactive; the files hold the new pair, mode 0600.
                let credentials = try await Self.credentials(fleet)
                #expect(credentials.count == 2)
                #expect(credentials.first { $0.serviceUserName == oldUser }?.status == .inactive)
                let newUser = try String(contentsOfFile: userFile, encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                let newPassword = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                #expect(newUser != oldUser && newPassword != oldPassword)
                #expect(credentials.first { $0.serviceUserName == newUser }?.status == .active)
                #expect(
                    (try FileManager.default.attributesOfItem(atPath: passwordFile)[.posixPermissions] as? Int) == 0o600
                )
                // Every cluster fetches with the new pair (the old one no longer works).
                for cluster in fleet.inventory.clusters {
                    let kube = try await RotationTests.kube(fileContext, cluster)
                    let secret = try #require(
                        try await kube.get(
                            apiVersion: "v1", kind: "Secret", namespace: "flux-system", name: "flux-system"))
                    #expect(
                        secret[path: "data.username"]?.string == Data(newUser.utf8).base64EncodedString(),
                        "\(cluster.name)")
                    _ = try await RotationTests.fetchNow(kube)
                }
                // fleetstrap itself reaches the repository with the new pair, and finds nothing to do.
                let again = try await FleetRun(context: try await fleet.context(), settings: RotationTests.settings)
                    .start(
                        command: "bootstrap", clusters: fleet.inventory.clusters, inventoryPath: fleet.inventoryPath,
                        inventoryDigest: "test", progress: { _ in })
                #expect(again.outcome == .succeeded, "\(again.failed)")
                #expect(again.plans.values.allSatisfy { $0.isEmpty }, "\(again.plans)")
            }
        }

        static func credentials(_ fleet: LabFleet) async throws -> [IAMClient.GitCredential] {
            let client = try fleet.fixture.client()
            let credentials = try await fleet.fixture.session("prod", client: client)
            return try await IAMClient(client: client).listGitCredentials(
                userName: "flux-prod", credentials: credentials, account: "prod")
        }
    }
}
