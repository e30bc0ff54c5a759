// Bootstrap's decisions as a table, with no lab: what observed clusters need, and which ones are refused and why.
import Fleet
import Foundation
import Inventory
import Testing

@Suite("Bootstrap planner")
struct BootstrapPlannerTests {
    static let files = [
        "clusters/prod/flux-system/gotk-components.yaml", "clusters/prod/flux-system/gotk-sync.yaml",
        "clusters/prod/flux-system/kustomization.yaml",
    ]
    static let desired = BootstrapDesired(
        flux: SemanticVersion(2, 4, 0), manifestsVersion: "v2.4.0", files: files, componentObjects: 31,
        syncObjects: 2)
    static let fresh = ClusterObservation.Cluster(kubernetes: (1, 31))
    static let bootstrapped = ClusterObservation.Cluster(
        kubernetes: (1, 31), fluxManager: "flux", fluxInstalled: true, componentsApplied: true)

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let observation: ClusterObservation
        let expected: [ClusterAction]
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(
            name: "a new cluster reached over SSH with no key yet: everything",
            observation: ClusterObservation(cluster: fresh, key: .missing(identity: "fleet-bot")),
            expected: [
                .uploadKey(identity: "fleet-bot"), .commit(files: files), .applyComponents(objects: 31), .writeSecret,
                .applySync(objects: 2),
            ]),
        Row(
            name: "a bootstrapped cluster: nothing",
            observation: ClusterObservation(
                cluster: bootstrapped, key: .held(keyID: "APKA1"), filesMissing: [], secret: .matches,
                syncObjectsStale: 0),
            expected: []),
        Row(
            name: "a file edited away in the repository: only the commit, Flux applies the rest itself",
            observation: ClusterObservation(
                cluster: bootstrapped, key: .held(keyID: "APKA1"), filesMissing: [files[1]], secret: .matches,
                syncObjectsStale: 0),
            expected: [.commit(files: [files[1]])]),
        Row(
            name: "Flux's CRDs there but never reconciled: the components again",
            observation: ClusterObservation(
                cluster: .init(kubernetes: (1, 31), fluxInstalled: true), key: .held(keyID: "APKA1"),
                filesMissing: [], secret: .matches, syncObjectsStale: 0),
            expected: [.applyComponents(objects: 31)]),
        Row(
            name: "IAM over HTTPS: no key, no secret",
            observation: ClusterObservation(cluster: fresh, filesMissing: files, secret: .notNeeded),
            expected: [.commit(files: files), .applyComponents(objects: 31), .applySync(objects: 2)]),
        Row(
            name: "a rotated key not yet in the cluster: secret and the GitRepository's URL",
            observation: ClusterObservation(
                cluster: bootstrapped, key: .held(keyID: "APKA2"), filesMissing: [files[1]], secret: .differs,
                syncObjectsStale: 1),
            expected: [.commit(files: [files[1]]), .writeSecret, .applySync(objects: 1)]),
    ]

    @Test("what a cluster needs", arguments: rows)
    func plans(_ row: Row) throws {
        #expect(try BootstrapPlanner.plan(row.observation, Self.desired) == row.expected)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let cluster: ClusterObservation.Cluster
        let flux: SemanticVersion
        let errorClass: String
        let says: String
        var testDescription: String { errorClass + ": " + says }
    }

    static let refusals: [Refusal] = [
        Refusal(
            cluster: .init(kubernetes: (1, 27)), flux: SemanticVersion(2, 4, 0),
            errorClass: "preflight.kubernetes-version", says: "Kubernetes 1.27 is older than Flux v2.4.0 supports"),
        Refusal(
            cluster: .init(kubernetes: (1, 32)), flux: SemanticVersion(2, 9, 0),
            errorClass: "preflight.kubernetes-version", says: ">= 1.33"),
        Refusal(
            cluster: .init(kubernetes: (1, 31), refused: ClusterObservation.Permission.fluxInstall[3]),
            flux: SemanticVersion(2, 4, 0), errorClass: "preflight.permissions",
            says: "may not create secrets in flux-system"),
        Refusal(
            cluster: .init(kubernetes: (1, 31), fluxManager: "Helm", fluxInstalled: true),
            flux: SemanticVersion(2, 4, 0), errorClass: "preflight.managed", says: "managed by 'Helm'"),
    ]

    @Test("clusters bootstrap must not touch", arguments: refusals)
    func refuses(_ refusal: Refusal) {
        var desired = Self.desired
        desired.flux = refusal.flux
        desired.manifestsVersion = refusal.flux.description
        let observation = ClusterObservation(cluster: refusal.cluster, key: .missing(identity: "fleet-bot"))
        #expect {
            try BootstrapPlanner.plan(observation, desired)
        } throws: { error in
            guard let failure = error as? FleetFailure else { return false }
            return failure.errorClass == refusal.errorClass && failure.description.contains(refusal.says)
        }
    }

    @Test("Kubernetes at the oldest minor a release supports, and Flux managed by flux, pass")
    func boundaries() throws {
        try BootstrapPlanner.preflight(.init(kubernetes: (1, 28)), flux: SemanticVersion(2, 4, 0))
        try BootstrapPlanner.preflight(.init(kubernetes: (1, 33)), flux: SemanticVersion(2, 9, 0))
        try BootstrapPlanner.preflight(.init(kubernetes: (2, 0)), flux: SemanticVersion(2, 9, 0))
        try BootstrapPlanner.preflight(
            .init(kubernetes: (1, 31), fluxManager: "flux", fluxInstalled: true), flux: SemanticVersion(2, 4, 0))
        try BootstrapPlanner.preflight(
            .init(kubernetes: (1, 31), fluxManager: "", fluxInstalled: true), flux: SemanticVersion(2, 4, 0))
    }

    @Test("manifests of another release than the inventory's are refused")
    func manifestVersion() {
        var desired = Self.desired
        desired.manifestsVersion = "v2.3.0"
        let observation = ClusterObservation(cluster: Self.fresh, secret: .notNeeded)
        #expect {
            try BootstrapPlanner.plan(observation, desired)
        } throws: { error in
            (error as? FleetFailure)?.errorClass == "flux.version"
                && "\(error)".contains("component manifests are Flux v2.3.0, the inventory asks for v2.4.0")
        }
    }

    @Test("actions as --output json and plan print them")
    func encoding() throws {
        let actions: [ClusterAction] = [
            .uploadKey(identity: "fleet-bot"), .commit(files: ["a.yaml"]), .applyComponents(objects: 31),
            .writeSecret, .applySync(objects: 2),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(actions), as: UTF8.self)
        let expected =
            #"[{"action":"upload-key","identity":"fleet-bot"},{"action":"commit","files":["a.yaml"]},"#
            + #"{"action":"apply-components","objects":31},{"action":"write-secret"},"#
            + #"{"action":"apply-sync","objects":2}]"#
        #expect(json == expected)
        #expect(try JSONDecoder().decode([ClusterAction].self, from: Data(json.utf8)) == actions)
        #expect(
            actions.map(\.description) == [
                "upload an SSH key for fleet-bot", "commit a.yaml", "apply 31 component objects",
                "write secret flux-system", "apply 2 sync objects",
            ])
    }
}
