// A change bootstrap makes to IAM, a repository or a cluster: what `plan` prints and what a run reports it did.
import Foundation

public enum ClusterAction: Sendable, Equatable, Hashable {
    /// A new SSH key for the identity, uploaded to IAM.
    case uploadKey(identity: String)
    /// These files written to the repository's branch (one commit, shared with other clusters of the branch).
    case commit(files: [String])
    /// Flux's components applied (CRDs and Namespaces first), as `flux bootstrap` does only on first install.
    case applyComponents(objects: Int)
    /// Secret `flux-system` written with the repository's credentials.
    case writeSecret
    /// The GitRepository and Kustomization `flux-system` applied.
    case applySync(objects: Int)
}

extension ClusterAction: CustomStringConvertible {
    public var description: String {
        switch self {
        case .uploadKey(let identity): "upload an SSH key for \(identity)"
        case .commit(let files): "commit \(files.joined(separator: ", "))"
        case .applyComponents(let objects): "apply \(objects) component objects"
        case .writeSecret: "write secret flux-system"
        case .applySync(let objects): "apply \(objects) sync objects"
        }
    }
}

/// `{"action": "commit", "files": [...]}`: one object per action, named as `--output json` prints it.
extension ClusterAction: Codable {
    private enum Kind: String, Codable {
        case uploadKey = "upload-key"
        case commit
        case applyComponents = "apply-components"
        case writeSecret = "write-secret"
        case applySync = "apply-sync"
    }

    private enum CodingKeys: String, CodingKey {
        case action, identity, files, objects
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .action) {
        case .uploadKey: self = .uploadKey(identity: try container.decode(String.self, forKey: .identity))
        case .commit: self = .commit(files: try container.decode([String].self, forKey: .files))
        case .applyComponents: self = .applyComponents(objects: try container.decode(Int.self, forKey: .objects))
        case .writeSecret: self = .writeSecret
        case .applySync: self = .applySync(objects: try container.decode(Int.self, forKey: .objects))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .uploadKey(let identity):
            try container.encode(Kind.uploadKey, forKey: .action)
            try container.encode(identity, forKey: .identity)
        case .commit(let files):
            try container.encode(Kind.commit, forKey: .action)
            try container.encode(files, forKey: .files)
        case .applyComponents(let objects):
            try container.encode(Kind.applyComponents, forKey: .action)
            try container.encode(objects, forKey: .objects)
        case .writeSecret:
            try container.encode(Kind.writeSecret, forKey: .action)
        case .applySync(let objects):
            try container.encode(Kind.applySync, forKey: .action)
            try container.encode(objects, forKey: .objects)
        }
    }
}
