// How fleetstrap proves itself to a Git server: an SSH key (CodeCommit: the user is the SSH key id), a SigV4 Git
// password made fresh from AWS credentials for each operation, or IAM HTTPS Git credentials. Resolved to concrete
// secrets just before an operation; the private key and passphrase stay in memory (libgit2's in-memory SSH key).
import AWS
import FleetCrypto
import FleetSupport
import Foundation
import SigV4

public enum GitAuthentication: Sendable {
    /// No credentials (a local path, or an anonymous server).
    case none
    /// SSH with a PEM RSA private key; the login user is the URL's (for CodeCommit, the SSH key id).
    case sshKey(privateKeyPEM: Secret, passphrase: Secret?)
    /// HTTPS with a CodeCommit Git password signed (SigV4) from these credentials, fresh for each operation.
    /// `region` is needed when the host does not name one (a VPC endpoint, the lab).
    case codeCommitIAM(credentials: any CredentialProvider, region: String?)
    /// HTTPS with a username and password (IAM HTTPS Git credentials, `https-token`).
    case basic(username: String, password: Secret)

    /// What libgit2's credential callback hands out for one operation.
    enum Resolved: Sendable {
        case none
        case sshKey(publicKey: String, privateKeyPEM: Secret, passphrase: Secret?)
        case basic(username: String, password: Secret)
    }

    func resolve(url: String, now: Date = Date()) async throws -> Resolved {
        switch self {
        case .none:
            return .none
        case .sshKey(let pem, let passphrase):
            // Checked here, so a wrong passphrase is named as such rather than as a refused login.
            let key: RSAPrivateKey
            do {
                key = try RSAPrivateKey(pem: pem, passphrase: passphrase)
            } catch {
                throw GitError(
                    .authentication, operation: "authenticate", remote: url,
                    message: "the SSH private key cannot be used: \(error)",
                    hint: "check the key file and its passphrase")
            }
            return .sshKey(publicKey: key.publicKey.openSSH, privateKeyPEM: pem, passphrase: passphrase)
        case .codeCommitIAM(let provider, let region):
            guard let parts = GitURL.parts(url) else {
                throw GitError(.invalid, operation: "authenticate", remote: url, message: "not a URL")
            }
            guard let region = region ?? CodeCommitGitCredentials.region(ofHost: parts.host) else {
                throw GitError(
                    .invalid, operation: "authenticate", remote: url,
                    message: "the host \(parts.host) names no AWS region", hint: "set the repository's region")
            }
            let credentials = try await provider.credentials()
            let host = parts.port.map { "\(parts.host):\($0)" } ?? parts.host
            let git = CodeCommitGitCredentials.make(
                host: host, path: parts.path, region: region, credentials: credentials, date: now)
            return .basic(username: git.username, password: git.password)
        case .basic(let username, let password):
            return .basic(username: username, password: password)
        }
    }
}

/// What a remote is trusted to be: its TLS certificate's CA, and its SSH host keys.
public struct GitTrust: Sendable {
    /// PEM CA bundle for HTTPS; nil: the system's.
    public var caPEM: [UInt8]?
    public var hostKeys: HostKeyPins

    public init(caPEM: [UInt8]? = nil, hostKeys: HostKeyPins = HostKeyPins()) {
        self.caPEM = caPEM
        self.hostKeys = hostKeys
    }
}

/// A Git remote: where, as whom, trusting what.
public struct GitRemote: Sendable {
    public var url: String
    public var authentication: GitAuthentication
    public var trust: GitTrust

    public init(url: String, authentication: GitAuthentication = .none, trust: GitTrust = GitTrust()) {
        self.url = url
        self.authentication = authentication
        self.trust = trust
    }

    public var redactedURL: String { GitURL.redacted(url) }
}
