// What an audit can find, with how bad it is. Codes are stable names (reports and `--fail-on` rely on them).
import Ledger

public struct AuditFinding: Sendable, Codable, Equatable, Hashable {
    public typealias Severity = FindingRecord.Severity

    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The identity's Active key is older than its `maxKeyAge`.
        case keyTooOld = "key.too-old"
        /// The identity's IAM user has five SSH keys: no room for a rotation.
        case keyLimit = "key.limit"
        /// The cluster's secret holds a key that is Inactive in IAM: its fetches fail.
        case keyInactive = "key.inactive-in-use"
        /// The cluster's secret holds a key IAM does not have for the identity.
        case keyUnknown = "key.unknown"
        /// The URL's user is a key id, but not the id of the key in the secret.
        case urlUserMismatch = "url.user-mismatch"
        /// `user@host:path`: Flux wants `ssh://` (its v1 GitRepository schema refuses such URLs; a CRD installed
        /// without that schema lets one through).
        case urlScpLike = "url.scp-like"
        /// The SSH user is not an SSH key id: CodeCommit refuses it.
        case urlUserNotKeyID = "url.user-not-key-id"
        case notBootstrapped = "cluster.not-bootstrapped"
        case notReady = "cluster.not-ready"
        case kustomizationNotReady = "kustomization.not-ready"
        /// The installed Flux is older than the inventory's.
        case fluxBehind = "flux.behind"
        /// The secret's known_hosts differs from the host key fleetstrap pinned.
        case hostKeyChanged = "hostkey.changed"
        case unreachable = "cluster.unreachable"
        /// The identity's IAM user has more than one Active SSH key: a rotation under way, abandoned, or two states.
        case multipleActiveKeys = "key.multiple-active"
        /// The clusters of one identity use different keys: the fleet is split (two rotations, a half-done one).
        case identitySplit = "identity.split-across-keys"

        public var severity: Severity {
            switch self {
            case .keyInactive, .keyUnknown, .hostKeyChanged: .critical
            case .keyTooOld, .urlUserMismatch, .urlScpLike, .urlUserNotKeyID, .notBootstrapped, .notReady,
                .kustomizationNotReady,
                .unreachable, .identitySplit:
                .error
            case .keyLimit, .fluxBehind, .multipleActiveKeys: .warning
            }
        }
    }

    public var severity: Severity
    public var code: Code
    /// The cluster or identity it is about.
    public var subject: String
    public var cluster: String?
    public var identity: String?
    public var message: String

    public init(_ code: Code, cluster: String? = nil, identity: String? = nil, _ message: String) {
        (self.code, self.severity, self.cluster, self.identity, self.message) = (
            code, code.severity, cluster, identity, message
        )
        subject = cluster ?? identity ?? ""
    }
}
