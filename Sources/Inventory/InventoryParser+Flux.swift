// The inventory's `flux:` and `rollout:` sections: what Flux to install and how a run rolls out.
import FleetSupport
import Yams

extension InventoryParser {
    func parseFlux(_ f: YAMLFields) -> FluxDraft {
        f.reportUnknownKeys()
        var flux = FluxDraft()
        if let v = f.string("version") {
            if let version = SemanticVersion(v.value) {
                flux.version = Located(value: version, location: v.location)
            } else {
                source.collector.error(
                    "flux-version", at: v.location, "\(f.path).version '\(v.value)' is not a Flux release version",
                    hint: "write MAJOR.MINOR.PATCH, e.g. 2.4.0")
            }
        }
        for key in ["components", "componentsExtra"] {
            guard let list = f.strings(key) else { continue }
            let known =
                key == "components"
                ? FluxSettings.defaultComponents + FluxSettings.extraComponents
                : FluxSettings.extraComponents
            var names: [String] = []
            for item in list {
                if known.contains(item.value) {
                    names.append(item.value)
                } else {
                    source.collector.error(
                        "flux-component", at: item.location,
                        "unknown Flux component '\(item.value)' in \(f.path).\(key)"
                            + (Suggestion.closest(to: item.value, in: known).map { "; did you mean '\($0)'?" } ?? ""),
                        hint: "known here: \(known.joined(separator: ", "))")
                }
            }
            let located = Located(value: names, location: f.source.location(f.value(key)?.mark))
            if key == "components" { flux.components = located } else { flux.componentsExtra = located }
        }
        if let components = flux.components {
            for required in FluxSettings.requiredComponents where !components.value.contains(required) {
                source.collector.error(
                    "flux-required-component", at: components.location,
                    "\(f.path).components must include \(required)",
                    hint: "Flux cannot sync a cluster without source-controller and kustomize-controller")
            }
        }
        if let m = f.fields("manifests", known: ["url", "path", "sha256"]) {
            m.reportUnknownKeys()
            let sha = m.string("sha256")
            if let sha, !ASCII.all(sha.value, 64...64, ASCII.isHexDigit) {
                source.collector.error(
                    "sha256", at: sha.location, "\(m.path).sha256 must be 64 hexadecimal digits",
                    hint: "compute it with: sha256sum install.yaml")
            }
            let url = m.string("url")
            let path = m.string("path")
            switch (url, path) {
            case (let u?, nil):
                if !u.value.hasPrefix("https://") {
                    source.collector.error(
                        "manifests-url", at: u.location, "\(m.path).url must be an https URL, found '\(u.value)'",
                        hint:
                            "these manifests are applied with cluster-admin rights: fetch them over TLS, or download "
                            + "them and give path"
                    )
                }
                flux.manifests = .url(u.value, sha256: sha?.value.lowercased())
            case (nil, let p?):
                flux.manifests = .path(p.value, sha256: sha?.value.lowercased())
            default:
                source.error(
                    "manifests-source", at: m.mark, "\(m.path) needs exactly one of url or path",
                    hint: "url: a release's install.yaml (or a mirror); path: a local file or directory")
            }
        }
        if let registry = f.string("registry") {
            if registry.value.contains("://") || registry.value.hasSuffix("/") || registry.value.isEmpty {
                source.collector.error(
                    "registry", at: registry.location,
                    "\(f.path).registry '\(registry.value)' must be a registry host and path, without scheme or "
                        + "trailing slash",
                    hint: "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/fluxcd")
            } else {
                flux.registry = registry.value
            }
        }
        if let secret = f.string("imagePullSecret") {
            if KubernetesNames.isDNSLabel(secret.value) {
                flux.imagePullSecret = secret.value
            } else {
                source.collector.error(
                    "kubernetes-name", at: secret.location,
                    "\(f.path).imagePullSecret '\(secret.value)' is not a valid Secret name")
            }
        }
        flux.networkPolicy = f.bool("networkPolicy")?.value
        if let domain = f.string("clusterDomain") {
            if AWSNames.isHost(domain.value) {
                flux.clusterDomain = domain.value
            } else {
                source.collector.error(
                    "cluster-domain", at: domain.location,
                    "\(f.path).clusterDomain '\(domain.value)' is not a DNS domain")
            }
        }
        flux.tolerationKeys = f.strings("tolerationKeys")?.map(\.value)
        if let roles = f.fields("serviceAccountRoles", known: Array(Self.serviceAccountRoleKeys.keys).sorted()) {
            roles.reportUnknownKeys()
            var map: [String: String] = [:]
            for (key, controller) in Self.serviceAccountRoleKeys {
                guard let arn = roles.string(key) else { continue }
                if AWSNames.roleARNAccount(arn.value) != nil {
                    map[controller] = arn.value
                } else {
                    source.collector.error(
                        "role-arn", at: arn.location, "\(roles.path).\(key) '\(arn.value)' is not an IAM role ARN",
                        hint: "expected arn:aws:iam::<12-digit account id>:role/<name>")
                }
            }
            flux.serviceAccountRoles = map
        }
        if let sops = f.fields("sops", known: ["kmsKeyArn"]) {
            sops.reportUnknownKeys()
            if let arn = sops.string("kmsKeyArn", required: true) {
                if AWSNames.isKMSKeyARN(arn.value) {
                    flux.sopsKMSKeyARN = arn.value
                } else {
                    source.collector.error(
                        "kms-arn", at: arn.location, "\(sops.path).kmsKeyArn '\(arn.value)' is not a KMS key ARN",
                        hint: "expected arn:aws:kms:<region>:<account>:key/<id> or :alias/<name>")
                }
            }
        }
        if let patches = f.sequence("patches") {
            var out: [FluxSettings.Patch] = []
            for (i, node) in patches.enumerated() {
                guard
                    let p = YAMLFields(
                        node, path: "\(f.path).patches[\(i)]", known: ["patch", "target"], source: source)
                else { continue }
                p.reportUnknownKeys()
                guard let text = p.string("patch", required: true) else { continue }
                var target: [String: String] = [:]
                let targetKeys = [
                    "group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector",
                ]
                if let t = p.fields("target", known: targetKeys) {
                    t.reportUnknownKeys()
                    for key in targetKeys { if let v = t.string(key) { target[key] = v.value } }
                }
                if (try? Yams.compose(yaml: text.value)) == nil {
                    source.collector.error(
                        "patch", at: text.location, "\(p.path).patch is not valid YAML",
                        hint:
                            "write the patch as a block scalar (patch: |) holding a strategic merge or JSON 6902 patch")
                }
                out.append(FluxSettings.Patch(patch: text.value, target: target))
            }
            flux.patches = out
        }
        return flux
    }

    func parseRollout(_ f: YAMLFields) -> Rollout {
        f.reportUnknownKeys()
        var r = Rollout.default
        if let p = f.int("parallelism", in: 1...10_000) { r.parallelism = p.value }
        if let waves = f.sequence("waves") {
            var sizes: [Rollout.Size] = []
            var nodes: [(position: Int, node: Node)] = []
            for (i, node) in waves.enumerated() {
                let text: String
                if case .scalar(let s) = node { text = s.string } else { text = "" }
                guard let size = Rollout.Size(text) else {
                    source.error(
                        "wave", at: node.mark,
                        "\(f.path).waves[\(i)] must be a cluster count or a percentage, found \(node.valueDescription)",
                        hint: "e.g. waves: [1, 10%, 100%] (cumulative: one cluster, then up to 10%, then all)")
                    continue
                }
                sizes.append(size)
                nodes.append((i, node))
            }
            for (index, problem) in Rollout.Size.waveProblems(sizes) {
                source.error(
                    "wave", at: nodes[index].node.mark, "\(f.path).waves[\(nodes[index].position)] \(problem)",
                    hint: "wave sizes are cumulative and must grow: [1, 10%, 100%]")
            }
            if !sizes.isEmpty {
                if sizes.last != .percent(100) { sizes.append(.percent(100)) }
                r.waves = sizes
            }
        }
        if let node = f.value("maxFailures") {
            let text: String
            if case .scalar(let s) = node { text = s.string } else { text = "" }
            if let size = Rollout.Size(text), size.isValidBudget {
                r.maxFailures = size
            } else {
                source.error(
                    "max-failures", at: node.mark,
                    "\(f.path).maxFailures must be a count (0 or more) or a percentage up to 100%, found "
                        + "\(node.valueDescription)"
                )
            }
        }
        if let timeout = f.string("clusterTimeout"), let d = duration(timeout, what: "\(f.path).clusterTimeout") {
            r.clusterTimeout = d
        }
        if let limits = f.fields("rateLimits", known: Rollout.rateLimitedServices) {
            limits.reportUnknownKeys()
            for service in Rollout.rateLimitedServices {
                guard let node = limits.value(service) else { continue }
                if case .scalar(let s) = node, let rate = Double(s.string), rate > 0, rate <= 10_000 {
                    r.rateLimits[service] = rate
                } else {
                    source.error(
                        "rate-limit", at: node.mark,
                        "\(limits.path).\(service) must be a number of requests a second above 0, found "
                            + "\(node.valueDescription)"
                    )
                }
            }
        }
        return r
    }
}
