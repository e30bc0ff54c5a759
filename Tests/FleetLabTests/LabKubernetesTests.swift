// The simulated clusters' API servers over HTTPS: their own CA, EKS tokens and access entries, discovery, apply,
// Status errors; and kubectl against them when it is installed.
import AWS
import FleetSupport
import Foundation
import HTTP
import LabSupport
import TestSupport
import Testing

@testable import FleetLab

@Suite("Lab: Kubernetes API servers", .serialized)
struct LabKubernetesTests {
    func connect(
        _ fixture: LabFixture, cluster: String = "prod-a", as account: String = "prod", region: String = "eu-west-1"
    ) async throws -> LabCluster {
        try await fixture.connect(cluster: cluster, as: account, region: region)
    }

    func call(
        _ c: LabCluster, _ path: String, method: String = "GET", body: String = "", contentType: String? = nil,
        token: String? = nil
    )
        async throws -> HTTPResponse
    {
        try await c.call(path, method: method, body: body, contentType: contentType, token: token)
    }

    @Test func oneSharedListenerServesEveryClusterWithItsOwnCA() async throws {
        var config = LabFixture.config
        config.sharedClusterListener = true
        try await withLab(ssh: false, config: config) { fixture in
            let prod = try await connect(fixture)
            let dev = try await connect(fixture, cluster: "dev-a", as: "dev", region: "us-east-1")
            #expect(
                prod.endpoint.hasSuffix(
                    ".gr7.eu-west-1.eks.localhost:\(URLComponents(string: dev.endpoint)?.port ?? 0)"),
                "one port")
            #expect(prod.endpoint != dev.endpoint)
            #expect(try await prod.call("/api/v1/namespaces").status == 200)
            #expect(try await dev.call("/api/v1/namespaces").status == 200)
            // Each name presents its own cluster's certificate: prod's CA does not vouch for dev's endpoint.
            await #expect {
                _ = try await HTTPClient.shared.execute(
                    HTTPRequest(url: dev.endpoint + "/version", trust: .pem(prod.ca)))
            } throws: { ($0 as? HTTPClientError)?.isCertificateProblem == true }
            // A token for prod-a is no good on dev-a (x-k8s-aws-id names the cluster).
            #expect(try await dev.call("/api/v1/namespaces", token: prod.token).status == 401)
        }
    }

    @Test func authenticationAccessAndTLS() async throws {
        try await withLab(ssh: false) { fixture in
            let prod = try await connect(fixture)
            #expect(prod.endpoint.hasPrefix("https://127.0.0.1:"))
            #expect(try await call(prod, "/version").status == 200)
            #expect(try await call(prod, "/api/v1/namespaces", token: "not-a-token").status == 401)
            // Health checks and the version are public, as system:public-info-viewer makes them.
            for path in ["/healthz", "/livez", "/readyz"] {
                let health = try await call(prod, path, token: "not-a-token")
                #expect(health.status == 200 && health.bodyText == "ok", "\(path)")
            }
            #expect(try await call(prod, "/version", token: "not-a-token").status == 200)
            // The dev account's role has no access entry on prod-a: EKS does not know it (401, as for a bad token).
            let devToken = try await connect(fixture, as: "dev").token
            let unmapped = try await call(prod, "/api/v1/namespaces", token: devToken)
            #expect(unmapped.status == 401)
            #expect(unmapped.bodyText.contains("\"reason\":\"Unauthorized\""))
            // Only the cluster's own CA is trusted for it.
            await #expect {
                _ = try await HTTPClient.shared.execute(
                    HTTPRequest(
                        url: prod.endpoint + "/version",
                        trust: .pem(Array(try Data(contentsOf: URL(fileURLWithPath: fixture.lab.info.caBundle))))))
            } throws: { ($0 as? HTTPClientError)?.isCertificateProblem == true }
        }
    }

    @Test func discoveryApplyAndStatusErrors() async throws {
        try await withLab(ssh: false) { fixture in
            let c = try await connect(fixture)
            let api = try await call(c, "/api")
            #expect(api.bodyText.contains("\"versions\":[\"v1\"]"))
            let apis = try await call(c, "/apis")
            #expect(apis.bodyText.contains("\"name\":\"apps\""))
            let apply = "application/apply-patch+yaml"
            let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"
            #expect(
                try await call(
                    c, "/api/v1/namespaces/flux-system?fieldManager=flux&force=true", method: "PATCH", body: ns,
                    contentType: apply
                ).status == 201)
            let secret =
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: flux-system\n  namespace: flux-system\ndata:\n  "
                + "identity: aGk=\n"
            let created = try await call(
                c, "/api/v1/namespaces/flux-system/secrets/flux-system?fieldManager=flux&force=true", method: "PATCH",
                body: secret, contentType: apply)
            #expect(created.status == 201)
            let again = try await call(
                c, "/api/v1/namespaces/flux-system/secrets/flux-system?fieldManager=flux&force=true", method: "PATCH",
                body: secret, contentType: apply)
            #expect(again.status == 200)
            func version(_ r: HTTPResponse) -> String? {
                JSONValue.parse(r.body)?[path: "metadata.resourceVersion"]?.string
            }
            #expect(version(again) == version(created), "re-applying the same secret changes nothing")
            let list = try await call(c, "/api/v1/namespaces/flux-system/secrets")
            #expect(JSONValue.parse(list.body)?["items"]?.array?.count == 1)
            let missing = try await call(c, "/api/v1/namespaces/flux-system/secrets/nope")
            #expect(missing.status == 404)
            #expect(JSONValue.parse(missing.body)?["kind"] == .string("Status"))
            let noManager = try await call(
                c, "/api/v1/namespaces/flux-system/secrets/flux-system", method: "PATCH", body: secret,
                contentType: apply)
            #expect(noManager.status == 400)
            #expect(
                try await call(c, "/api/v1/namespaces/flux-system/secrets/flux-system", method: "DELETE").status == 200)
            #expect(fixture.lab.counters().clusters["prod-a"] ?? 0 >= 9)
        }
    }

    /// Aggregated discovery as Kubernetes serves it, chosen by Accept: every group at /apis and the core group at
    /// /api in one answer each, the legacy documents for plain JSON, 406 for what the server cannot serve.
    @Test func aggregatedDiscoveryByAccept() async throws {
        try await withLab(ssh: false) { fixture in
            let c = try await connect(fixture)
            let clientGo = [
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", "application/json",
            ].joined(separator: ",")
            let apis = try await c.call("/apis", accept: clientGo)
            #expect(apis.status == 200)
            #expect(
                apis.header("Content-Type") == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            let document = try #require(JSONValue.parse(apis.body))
            #expect(
                document["kind"] == .string("APIGroupDiscoveryList")
                    && document["apiVersion"] == .string("apidiscovery.k8s.io/v2"))
            let apps = try #require(document["items"]?.array?.first { $0[path: "metadata.name"] == .string("apps") })
            let deployments = try #require(
                apps["versions"]?.array?.first?["resources"]?.array?.first { $0["resource"] == .string("deployments") })
            #expect(
                deployments["scope"] == .string("Namespaced")
                    && deployments["singularResource"] == .string("deployment"))
            #expect(
                deployments["responseKind"]
                    == .object(["group": .string("apps"), "version": .string("v1"), "kind": .string("Deployment")]))
            #expect(deployments["shortNames"] == .array([.string("deploy")]))
            let core = try #require(JSONValue.parse(try await c.call("/api", accept: clientGo).body))
            #expect(core["items"]?.array?.count == 1 && core["items"]?.array?.first?[path: "metadata.name"] == nil)
            let namespaces = core["items"]?.array?.first?["versions"]?.array?.first?["resources"]?.array?.first {
                $0["resource"] == .string("namespaces")
            }
            #expect(namespaces?["scope"] == .string("Cluster"))
            let beta = try await c.call(
                "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
            #expect(
                beta.header("Content-Type")
                    == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
            let legacy = try await c.call("/apis")
            #expect(
                legacy.header("Content-Type") == "application/json"
                    && JSONValue.parse(legacy.body)?["kind"] == .string("APIGroupList"))
            let refused = try await c.call("/apis", accept: "application/yaml")
            #expect(refused.status == 406 && JSONValue.parse(refused.body)?["reason"] == .string("NotAcceptable"))
        }
    }

    /// Which document each Kubernetes version gives for an Accept header.
    @Test func discoveryFormatFollowsTheKubernetesVersion() {
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        let clientGo = "\(v2),\(beta),application/json"
        typealias API = KubernetesAPI
        #expect(API.discoveryFormat(clientGo, served: ["v2", "v2beta1"]) == .aggregated("v2"))  // 1.30 and later
        #expect(API.discoveryFormat(clientGo, served: ["v2beta1"]) == .aggregated("v2beta1"))  // 1.26 to 1.29
        #expect(API.discoveryFormat(clientGo, served: []) == .legacy)  // before 1.26
        #expect(API.discoveryFormat(v2, served: ["v2beta1"]) == nil)
        #expect(API.discoveryFormat(nil, served: ["v2"]) == .legacy)
        #expect(API.discoveryFormat("*/*", served: ["v2"]) == .legacy)
        #expect(
            API.discoveryFormat("application/yaml, application/json;as=Table;g=meta.k8s.io;v=v1", served: ["v2"]) == nil
        )
        #expect(
            API.discoveryFormat(
                " application/json ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList", served: ["v2"])
                == .aggregated("v2"))
    }

    @Test(.tags(.integration))
    func kubectlWithFleetstrapEKSTokens() async throws {
        let kubectlPath = try #require(
            Tools.path("kubectl"), "kubectl is not installed: scripts/install-deps.sh installs it")
        try await withLab(ssh: false) { fixture in
            let c = try await connect(fixture)
            let client = try fixture.client()
            let session = try await fixture.session("prod", client: client).credentials()
            let fleetstrap = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/fleetstrap").path
            let kubeconfig = fixture.directory.appendingPathComponent("kubeconfig")
            try """
            apiVersion: v1
            kind: Config
            clusters:
            - name: prod-a
              cluster:
                server: \(c.endpoint)
                certificate-authority-data: \(Data(c.ca).base64EncodedString())
            users:
            - name: fleetstrap
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: \(fleetstrap)
                  args: [eks-token, --cluster-name, prod-a, --region, eu-west-1]
                  interactiveMode: Never
            contexts:
            - name: prod-a
              context: {cluster: prod-a, user: fleetstrap}
            current-context: prod-a

            """.write(to: kubeconfig, atomically: true, encoding: .utf8)
            var environment = fixture.lab.environment
            environment["AWS_ACCESS_KEY_ID"] = session.accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = session.secretAccessKey.reveal()
            environment["AWS_SESSION_TOKEN"] = session.sessionToken?.reveal()
            environment["KUBECONFIG"] = kubeconfig.path
            environment["HOME"] = fixture.directory.path
            environment["PATH"] = "/usr/bin:/bin:/usr/local/bin"
            func kubectl(_ args: String...) async throws -> (Int32, String, String) {
                let r = try await runCommand([kubectlPath] + args, environment: environment)
                return (r.status, String(decoding: r.stdout, as: UTF8.self), r.stderr)
            }
            // A server-side dry run answers as if it created, and creates nothing.
            let dryFile = fixture.directory.appendingPathComponent("dry.yaml")
            try "apiVersion: v1\nkind: Namespace\nmetadata: {name: dry}\n".write(
                to: dryFile, atomically: true, encoding: .utf8)
            let dry = try await kubectl(
                "create", "-f", dryFile.path, "--dry-run=server", "--validate=false", "-o", "name")
            #expect(dry.0 == 0 && dry.1.trimmingCharacters(in: .whitespacesAndNewlines) == "namespace/dry", "\(dry.2)")
            #expect(try await kubectl("get", "namespace", "dry").0 != 0, "a dry run stored nothing")
            // generateName: the server names the object.
            let generated = fixture.directory.appendingPathComponent("generated.yaml")
            try "apiVersion: v1\nkind: Namespace\nmetadata: {generateName: gen-}\n".write(
                to: generated, atomically: true, encoding: .utf8)
            let created = try await kubectl("create", "-f", generated.path, "--validate=false", "-o", "name")
            let generatedName = created.1.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(
                created.0 == 0
                    && generatedName.wholeMatch(of: /namespace\/gen-[bcdfghjklmnpqrstvwxz2456789]{5}/) != nil,
                "\(created.1) \(created.2)")
            let health = try await kubectl("get", "--raw", "/healthz")
            #expect(health.0 == 0 && health.1 == "ok", "\(health.2)")
            let namespaces = try await kubectl("get", "namespaces", "-o", "name")
            #expect(namespaces.0 == 0, "\(namespaces.2)")
            #expect(namespaces.1.contains("namespace/kube-system"))
            let components = SharedData.url("testdata/flux/v2.4.0/gotk-components.yaml")
            do {
                let applied = try await kubectl(
                    "apply", "--server-side", "--validate=false", "--field-manager=flux", "-f", components.path)
                #expect(applied.0 == 0, "\(applied.2)")
                let deployments = try await kubectl("get", "deployments", "-n", "flux-system", "-o", "name")
                #expect(deployments.1.split(separator: "\n").count == 4)
                let crds = try await kubectl("get", "crd", "-o", "name")
                #expect(crds.1.contains("gitrepositories.source.toolkit.fluxcd.io"))
                // Label selectors, as kubectl -l sends them.
                for (selector, expected) in [
                    ("app.kubernetes.io/component=source-controller", 1),
                    ("app.kubernetes.io/component in (source-controller,kustomize-controller)", 2),
                    ("app.kubernetes.io/component notin (source-controller),app.kubernetes.io/part-of=flux", 3),
                    ("!app.kubernetes.io/component", 0),
                ] {
                    let selected = try await kubectl(
                        "get", "deployments", "-n", "flux-system", "-l", selector, "-o", "name")
                    let names = selected.1.split(separator: "\n")
                    #expect(selected.0 == 0 && names.count == expected, "\(selector): \(selected.1) \(selected.2)")
                }
                let deleted = try await kubectl("delete", "deployment", "-n", "flux-system", "helm-controller")
                #expect(deleted.0 == 0)
                #expect(
                    try await kubectl("get", "deployments", "-n", "flux-system", "-o", "name").1.split(separator: "\n")
                        .count == 3)
            }
            // Custom resources meet their CRD's schema: Flux v2.4.0's GitRepository knows no provider aws.
            let aws = fixture.directory.appendingPathComponent("provider-aws.yaml")
            try """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {name: iam, namespace: flux-system}
            spec: {url: "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet", interval: 1m, provider: aws}
            """.write(to: aws, atomically: true, encoding: .utf8)
            let refused = try await kubectl("apply", "--server-side", "--validate=false", "-f", aws.path)
            #expect(refused.0 != 0 && refused.2.contains("spec.provider: Unsupported value: \"aws\""), "\(refused.2)")
            // A Secret applied with stringData reads back as data, as the API server converts it.
            let secret = fixture.directory.appendingPathComponent("string-data.yaml")
            try """
            apiVersion: v1
            kind: Secret
            metadata: {name: written-as-strings, namespace: flux-system}
            stringData: {username: flux, password: "s3cr3t"}
            """.write(to: secret, atomically: true, encoding: .utf8)
            let written = try await kubectl(
                "apply", "--server-side", "--validate=false", "--field-manager=test", "-f", secret.path)
            #expect(written.0 == 0, "\(written.2)")
            let read = try await kubectl("get", "secret", "-n", "flux-system", "written-as-strings", "-o", "json")
            let object = try JSONSerialization.jsonObject(with: Data(read.1.utf8)) as? [String: Any]
            #expect(object?["stringData"] == nil, "\(read.1)")
            #expect(
                (object?["data"] as? [String: String]) == [
                    "username": Data("flux".utf8).base64EncodedString(),
                    "password": Data("s3cr3t".utf8).base64EncodedString(),
                ], "\(read.1)")
            // Containers are keyed by name: a second field manager's sidecar joins the first one's container.
            func deployment(_ container: String) throws -> String {
                let file = fixture.directory.appendingPathComponent("\(container).yaml")
                try """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: keyed, namespace: flux-system}
                spec:
                  selector: {matchLabels: {app: keyed}}
                  template:
                    metadata: {labels: {app: keyed}}
                    spec: {containers: [{name: \(container), image: "example.com/\(container):1"}]}
                """.write(to: file, atomically: true, encoding: .utf8)
                return file.path
            }
            for (manager, container) in [("flux", "manager"), ("mesh", "sidecar")] {
                let applied = try await kubectl(
                    "apply", "--server-side", "--validate=false", "--field-manager=\(manager)", "-f",
                    try deployment(container))
                #expect(applied.0 == 0, "\(applied.2)")
            }
            let containers = try await kubectl(
                "get", "deployment", "-n", "flux-system", "keyed", "-o",
                "jsonpath={.spec.template.spec.containers[*].name}")
            #expect(containers.1 == "manager sidecar", "\(containers.1) \(containers.2)")
        }
    }
}
