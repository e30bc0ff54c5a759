// The simulated API server's rules, driven directly: resource versions, generations, server-side apply with
// managers and conflicts, CRDs, Status errors; and the real Flux v2.4.0 components applied twice.
import FleetLab
import FleetSupport
import Foundation
import LabSupport
import TestSupport
import Testing
import Yams

@Suite("Lab: Kubernetes object store")
struct KubernetesStoreTests {
    static func yaml(_ text: String) -> JSONValue { JSONValue(any: try! Yams.load(yaml: text)) }

    let namespace = yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}")
    func deployment(replicas: Int, image: String = "ghcr.io/fluxcd/source-controller:v1.4.1", extraLabel: Bool = true)
        -> JSONValue
    {
        Self.yaml(
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: source-controller
              namespace: flux-system
              labels: {app.kubernetes.io/part-of: \
            flux\(extraLabel ? ", app.kubernetes.io/component: source-controller" : "")}
            spec:
              replicas: \(replicas)
              selector: {matchLabels: {app: source-controller}}
              template:
                metadata: {labels: {app: source-controller}}
                spec: {containers: [{name: manager, image: "\(image)"}]}
            """)
    }

    var store: KubernetesStore {
        var s = KubernetesStore()
        let ns = s.type(apiVersion: "v1", kind: "Namespace")!
        _ = try! s.apply(namespace, type: ns, namespace: nil, name: "flux-system", manager: "flux", force: true)
        return s
    }

    let deployments = ResourceType.builtIn.first { $0.kind == "Deployment" }!

    @Test func applyCreatesThenReapplyIsANoOp() throws {
        var s = store
        let (created, isNew) = try s.apply(
            deployment(replicas: 1), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "flux", force: true)
        #expect(isNew)
        #expect(created[path: "metadata.generation"] == .number(1))
        let rv = created[path: "metadata.resourceVersion"]
        let managed = created[path: "metadata.managedFields"]?.array?.first
        #expect(managed?["manager"] == .string("flux") && managed?["operation"] == .string("Apply"))
        #expect(managed?["fieldsV1"]?["f:spec"]?["f:replicas"] == .object([:]))
        let (again, _) = try s.apply(
            deployment(replicas: 1), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "flux", force: true)
        #expect(again[path: "metadata.resourceVersion"] == rv, "an unchanged apply changes nothing")
        let (scaled, _) = try s.apply(
            deployment(replicas: 2), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "flux", force: true)
        #expect(scaled[path: "metadata.generation"] == .number(2))
        #expect(scaled[path: "metadata.resourceVersion"] != rv)
    }

    @Test func anotherManagersFieldsConflictUnlessForced() throws {
        var s = store
        _ = try s.apply(
            deployment(replicas: 1), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "flux", force: true)
        #expect(
            throws: KubernetesError(
                code: 409, reason: "Conflict",
                message: "Apply failed with 1 conflict: conflict with \"flux\": .spec.replicas")
        ) {
            try s.apply(
                self.deployment(replicas: 3), type: self.deployments, namespace: "flux-system",
                name: "source-controller", manager: "kubectl", force: false)
        }
        // The same value is no conflict: both own it.
        _ = try s.apply(
            deployment(replicas: 1), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "kubectl", force: false)
        let (forced, _) = try s.apply(
            deployment(replicas: 3), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "kubectl", force: true)
        #expect(forced[path: "spec.replicas"] == .number(3))
        let flux = forced[path: "metadata.managedFields"]?.array?.first { $0["manager"] == .string("flux") }
        #expect(flux?["fieldsV1"]?["f:spec"]?["f:replicas"] == nil, "forcing takes the field from flux")
    }

    @Test func fieldsAManagerStopsSettingAreRemoved() throws {
        var s = store
        _ = try s.apply(
            deployment(replicas: 1), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "flux", force: true)
        let (after, _) = try s.apply(
            deployment(replicas: 1, extraLabel: false), type: deployments, namespace: "flux-system",
            name: "source-controller", manager: "flux", force: true)
        #expect(after[path: "metadata.labels"]?["app.kubernetes.io/component"] == nil)
        #expect(after[path: "metadata.labels"]?["app.kubernetes.io/part-of"] == .string("flux"))
    }

    func pod(containers: [(String, String)]) -> JSONValue {
        let list = containers.map { "{name: \($0.0), image: \($0.1)}" }.joined(separator: ", ")
        return Self.yaml(
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: source-controller, namespace: flux-system}
            spec:
              template:
                spec: {containers: [\(list)]}
            """)
    }

    /// Containers are a list keyed by name: two managers each own their own container, a conflict names one field of
    /// one element, and an element nobody applies any more goes (the rest stays).
    @Test func keyedListsMergeElementByElement() throws {
        var s = store
        let path = "spec.template.spec.containers"
        func names(_ object: JSONValue) -> [String] {
            object[path: path]?.array?.compactMap { $0["name"]?.string } ?? []
        }
        _ = try s.apply(
            pod(containers: [("manager", "a:1")]), type: deployments, namespace: "flux-system",
            name: "source-controller", manager: "flux", force: false)
        let (both, _) = try s.apply(
            pod(containers: [("sidecar", "b:1")]), type: deployments, namespace: "flux-system",
            name: "source-controller", manager: "mesh", force: false)
        #expect(names(both) == ["manager", "sidecar"])
        let owned = both[path: "metadata.managedFields"]?.array?.first { $0["manager"]?.string == "mesh" }
        #expect(
            owned?[path: "fieldsV1"]?[path: "f:spec.f:template.f:spec.f:containers"]?["k:{\"name\":\"sidecar\"}"]?[
                "f:image"] == .object([:]), "\(String(describing: owned))")
        #expect {
            _ = try s.apply(
                pod(containers: [("manager", "a:2")]), type: deployments, namespace: "flux-system",
                name: "source-controller", manager: "mesh", force: false)
        } throws: { error in
            "\(error)".contains("conflict with \"flux\": .spec.template.spec.containers[name=\"manager\"].image")
        }
        // The mesh stops applying its sidecar: it goes; flux's container stays as it was.
        let (after, _) = try s.apply(
            pod(containers: []), type: deployments, namespace: "flux-system", name: "source-controller",
            manager: "mesh", force: false)
        #expect(names(after) == ["manager"])
        #expect(after[path: path]?.array?.first?["image"] == .string("a:1"))
    }

    /// Names are lowercase RFC 1123 subdomains, as the API server checks them.
    @Test func namesAreRFC1123Subdomains() throws {
        let secrets = ResourceType.builtIn.first { $0.kind == "Secret" }!
        func accepts(_ name: String) -> Bool {
            var s = store
            let secret = JSONValue.object([
                "apiVersion": .string("v1"), "kind": .string("Secret"),
                "metadata": .object(["name": .string(name), "namespace": .string("flux-system")]),
            ])
            do throws(KubernetesError) {
                _ = try s.create(secret, type: secrets, namespace: "flux-system", manager: "flux")
                return true
            } catch {
                #expect(error.code == 422 && error.message.contains("RFC 1123 subdomain"), "\(name): \(error.message)")
                return false
            }
        }
        for good in ["a", "0", "flux-system", "a.b-c.9", "a..b", String(repeating: "x", count: 253)] {
            #expect(accepts(good), "\(good)")
        }
        for bad in ["A", "-a", "a-", ".a", "a.", "a_b", "é", "a b", String(repeating: "x", count: 254)] {
            #expect(!accepts(bad), "\(bad)")
        }
    }

    @Test func errorsAreStatusObjects() throws {
        var s = store
        let secrets = ResourceType.builtIn.first { $0.kind == "Secret" }!
        let secret = Self.yaml(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: flux-system, namespace: nowhere}\ndata: {identity: aGk=}")
        #expect(throws: KubernetesError(code: 404, reason: "NotFound", message: "namespaces \"nowhere\" not found")) {
            try s.create(secret, type: secrets, namespace: "nowhere", manager: "flux")
        }
        let good = Self.yaml(
            """
            apiVersion: v1\nkind: Secret\nmetadata: {name: flux-system, namespace: flux-system}\ndata: {identity: \
            aGk=}
            """
        )
        let created = try s.create(good, type: secrets, namespace: "flux-system", manager: "flux")
        #expect(throws: KubernetesError.self) {
            try s.create(good, type: secrets, namespace: "flux-system", manager: "flux")
        }
        var stale = good
        stale["metadata"]?["resourceVersion"] = .string("1")
        do {
            _ = try s.update(stale, type: secrets, namespace: "flux-system", manager: "flux")
            Issue.record("a stale update was accepted")
        } catch {
            #expect(error.code == 409 && error.reason == "Conflict")
            #expect(error.status["kind"] == .string("Status") && error.status["code"] == .number(409))
        }
        var fresh = good
        fresh["metadata"]?["resourceVersion"] = created[path: "metadata.resourceVersion"]
        fresh["data"] = .object(["identity": .string("aGVsbG8=")])
        #expect(
            try s.update(fresh, type: secrets, namespace: "flux-system", manager: "flux")[path: "data.identity"]
                == .string("aGVsbG8="))
        #expect(throws: KubernetesError(code: 404, reason: "NotFound", message: "secrets \"missing\" not found")) {
            try s.get(secrets, namespace: "flux-system", name: "missing")
        }
        _ = try s.delete(secrets, namespace: "flux-system", name: "flux-system")
        #expect(s.list(secrets, namespace: "flux-system")["items"] == .array([]))
    }

    @Test func crdsDefineTypesAndBecomeEstablished() throws {
        var s = store
        let crdType = ResourceType.builtIn.first { $0.kind == "CustomResourceDefinition" }!
        let crd = Self.yaml(
            """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: gitrepositories.source.toolkit.fluxcd.io}
            spec:
              group: source.toolkit.fluxcd.io
              names: {kind: GitRepository, plural: gitrepositories, listKind: GitRepositoryList, singular: \
            gitrepository}
              scope: Namespaced
              versions: [{name: v1, served: true, storage: true}, {name: v1beta2, served: true, storage: false}]
            """)
        #expect(s.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository") == nil)
        let (applied, _) = try s.apply(
            crd, type: crdType, namespace: nil, name: "gitrepositories.source.toolkit.fluxcd.io", manager: "flux",
            force: true)
        let conditions = applied[path: "status.conditions"]?.array ?? []
        #expect(conditions.contains { $0["type"] == .string("Established") && $0["status"] == .string("True") })
        let gitRepository = try #require(s.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository"))
        #expect(s.type(apiVersion: "source.toolkit.fluxcd.io/v1beta2", kind: "GitRepository") != nil)
        // Another CRD's types join them; a CRD applied again with fewer versions takes only its own types away.
        let kustomizations = Self.yaml(
            """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: kustomizations.kustomize.toolkit.fluxcd.io}
            spec:
              group: kustomize.toolkit.fluxcd.io
              names: {kind: Kustomization, plural: kustomizations, listKind: KustomizationList, singular: kustomization}
              scope: Namespaced
              versions: [{name: v1, served: true, storage: true}]
            """)
        _ = try s.apply(
            kustomizations, type: crdType, namespace: nil, name: "kustomizations.kustomize.toolkit.fluxcd.io",
            manager: "flux", force: true)
        var narrowed = crd
        narrowed["spec"]?["versions"] = .array([try #require(crd[path: "spec.versions"]?.array?.first)])
        _ = try s.apply(
            narrowed, type: crdType, namespace: nil, name: "gitrepositories.source.toolkit.fluxcd.io", manager: "flux",
            force: true)
        #expect(s.type(apiVersion: "source.toolkit.fluxcd.io/v1beta2", kind: "GitRepository") == nil)
        #expect(s.type(apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization") != nil)
        #expect(s.types.count == ResourceType.builtIn.count + 2)
        let repo = Self.yaml(
            """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {name: flux-system, namespace: flux-system}
            spec: {interval: 1m0s, ref: {branch: main}, secretRef: {name: flux-system}, url: \
            "ssh://APKAEXAMPLE@127.0.0.1:2222/v1/repos/fleet"}
            """)
        _ = try s.apply(
            repo, type: gitRepository, namespace: "flux-system", name: "flux-system", manager: "flux", force: true)
        try s.setStatus(
            gitRepository, namespace: "flux-system", name: "flux-system", .object(["observedGeneration": .number(1)]))
        #expect(
            try s.get(gitRepository, namespace: "flux-system", name: "flux-system")[path: "status.observedGeneration"]
                == .number(1))
        _ = try s.delete(crdType, namespace: nil, name: "gitrepositories.source.toolkit.fluxcd.io")
        #expect(s.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository") == nil)
        #expect(s.type(apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization") != nil)
    }

    @Test func realFluxComponentsApplyOnceAndThenChangeNothing() throws {
        let text = try String(contentsOfFile: Self.fluxComponents, encoding: .utf8)
        let documents = try Yams.load_all(yaml: text).map { JSONValue(any: $0) }.filter { $0.object != nil }
        #expect(documents.count == 31)
        var s = KubernetesStore()
        // Flux's order: CRDs and Namespaces first, then the rest.
        let first = documents.filter { ["CustomResourceDefinition", "Namespace"].contains($0["kind"]?.string) }
        let rest = documents.filter { !["CustomResourceDefinition", "Namespace"].contains($0["kind"]?.string) }
        func applyAll(_ list: [JSONValue]) throws {
            for object in list {
                let type = try #require(
                    s.type(apiVersion: object["apiVersion"]!.string!, kind: object["kind"]!.string!),
                    "\(object["kind"]!)")
                _ = try s.apply(
                    object, type: type, namespace: object[path: "metadata.namespace"]?.string,
                    name: object[path: "metadata.name"]!.string!, manager: "flux", force: true)
            }
        }
        try applyAll(first + rest)
        #expect(s.count == 31)
        let version = s.resourceVersion
        try applyAll(first + rest)
        #expect(s.resourceVersion == version, "a second bootstrap applies nothing")
    }

    /// Custom resources are pruned to their CRD's schema and validated against it, as Flux v2.4.0's GitRepository
    /// schema has the API server do: provider generic or azure only, url required, intervals as durations.
    @Test func customResourcesAreCheckedAgainstTheirCRDSchema() throws {
        let text = try String(contentsOfFile: Self.fluxComponents, encoding: .utf8)
        let crds = try Yams.load_all(yaml: text).map { JSONValue(any: $0) }.filter {
            $0["kind"]?.string == "CustomResourceDefinition" || $0["kind"]?.string == "Namespace"
        }
        var s = KubernetesStore()
        for object in crds {
            let type = try #require(s.type(apiVersion: object["apiVersion"]!.string!, kind: object["kind"]!.string!))
            _ = try s.apply(
                object, type: type, namespace: nil, name: object[path: "metadata.name"]!.string!, manager: "flux",
                force: true)
        }
        let type = try #require(s.type(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository"))
        func gitRepository(_ spec: String) -> JSONValue {
            Self.yaml(
                """
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: GitRepository
                metadata: {name: flux-system, namespace: flux-system}
                spec: {\(spec)}
                """)
        }
        func refusal(_ spec: String) -> String? {
            var copy = s
            do {
                _ = try copy.apply(
                    gitRepository(spec), type: type, namespace: "flux-system", name: "flux-system", manager: "m",
                    force: true)
                return nil
            } catch {
                return error.code == 422 ? error.message : "\(error)"
            }
        }
        let url = "url: \"ssh://git@example.com/fleet\", interval: 1m0s, ref: {branch: main}"
        let expected =
            "GitRepository.source.toolkit.fluxcd.io \"flux-system\" is invalid: spec.provider: Unsupported value: "
            + "\"aws\": supported values: \"generic\", \"azure\""
        #expect(refusal(url + ", provider: aws") == expected)
        #expect(refusal("interval: 1m0s")?.hasSuffix("is invalid: spec.url: Required value") == true)
        #expect(
            refusal(url.replacingOccurrences(of: "1m0s", with: "soon"))?.contains("spec.interval in body should match")
                == true)
        #expect(
            refusal("url: \"ftp://example.com\", interval: 1m")?.contains("spec.url: Invalid value: \"ftp://") == true)
        #expect(refusal(url + ", timeout: 5")?.contains("spec.timeout in body must be of type string") == true)
        // Valid, with a field the schema does not know: stored without it.
        #expect(refusal(url + ", bogus: 1") == nil)
        let (stored, _) = try s.apply(
            gitRepository(url + ", bogus: 1"), type: type, namespace: "flux-system", name: "flux-system",
            manager: "m", force: true)
        #expect(stored[path: "spec.bogus"] == nil && stored[path: "spec.url"]?.string == "ssh://git@example.com/fleet")
    }

    static let fluxComponents = SharedData.url("testdata/flux/v2.4.0/gotk-components.yaml").path
}
