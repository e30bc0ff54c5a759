// What the inventory says about Flux for a cluster: the options of `flux bootstrap` / `flux install`.

/// Flux settings after defaults are applied.
public struct FluxSettings: Sendable, Hashable {
    public static let defaultComponents = [
        "source-controller", "kustomize-controller", "helm-controller", "notification-controller",
    ]
    public static let extraComponents = ["image-reflector-controller", "image-automation-controller", "source-watcher"]
    public static let requiredComponents = ["source-controller", "kustomize-controller"]
    /// The first Flux release whose GitRepository knows `provider: aws` for CodeCommit over HTTPS.
    public static let firstVersionWithAWSGitProvider = SemanticVersion(2, 9, 0)

    /// Where the component manifests of this version come from.
    public enum ManifestSource: Sendable, Hashable {
        /// The release's `install.yaml` (the default URL, or a mirror), verified when `sha256` is given.
        case url(String, sha256: String?)
        /// A local file or directory (`install.yaml`, `gotk-components.yaml`, `flux install --export` output).
        case path(String, sha256: String?)
    }

    /// A kustomize patch (strategic merge or JSON 6902) with its target, as `kustomization.yaml` holds it.
    public struct Patch: Sendable, Hashable {
        public var patch: String
        public var target: [String: String]
    }

    public var version: SemanticVersion
    public var components: [String]
    public var componentsExtra: [String]
    public var manifests: ManifestSource?
    public var registry: String?
    public var imagePullSecret: String?
    public var networkPolicy: Bool
    public var clusterDomain: String
    public var tolerationKeys: [String]
    /// IRSA role ARNs, keyed by controller (`source-controller`, `kustomize-controller`, `image-reflector-controller`).
    public var serviceAccountRoles: [String: String]
    /// KMS key for SOPS decryption by kustomize-controller.
    public var sopsKMSKeyARN: String?
    public var patches: [Patch]

    /// All components to install, in Flux's order: the selected ones, then the extras.
    public var allComponents: [String] { components + componentsExtra.filter { !components.contains($0) } }
}

/// `MAJOR.MINOR.PATCH`, written with or without a leading `v`.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int, minor: Int, patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        (self.major, self.minor, self.patch) = (major, minor, patch)
    }

    public init?(_ text: String) {
        let bare = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
            let a = Int(parts[0]), let b = Int(parts[1]), let c = Int(parts[2]), a >= 0, b >= 0, c >= 0
        else { return nil }
        self.init(a, b, c)
    }

    /// `v2.4.0`, as Flux prints versions.
    public var description: String { "v\(major).\(minor).\(patch)" }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
}
