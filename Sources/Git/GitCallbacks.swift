// libgit2's remote callbacks for one operation: credentials (bounded: libgit2 asks again forever after a refusal),
// the server's identity (TLS certificate verified with OpenSSL; SSH host key pinned), progress (where cancellation
// is noticed) and the server's verdict on each pushed ref. C callbacks cannot capture: the state travels in an
// `OperationState` passed as the payload, which outlives the operation.
import CGit2
import FleetCrypto
import FleetSupport
import Foundation

final class OperationState: @unchecked Sendable {  // read and written by libgit2's callbacks on the operation's thread
    let operation: String
    let remote: GitRemote
    let authentication: GitAuthentication.Resolved
    let cancellation: Cancellation
    var credentialAttempts = 0
    /// Why a callback stopped the operation; preferred to libgit2's own (often unrelated) message.
    var failure: GitError?
    /// Refs the server refused, with its reason.
    var rejected: [String: String] = [:]

    init(operation: String, remote: GitRemote, authentication: GitAuthentication.Resolved, cancellation: Cancellation) {
        self.operation = operation
        self.remote = remote
        self.authentication = authentication
        self.cancellation = cancellation
    }

    static func from(_ payload: UnsafeMutableRawPointer?) -> OperationState {
        Unmanaged<OperationState>.fromOpaque(payload!).takeUnretainedValue()
    }

    /// Callbacks for `git_remote_callbacks`, with this state as payload (valid while the caller keeps it alive).
    func install(_ callbacks: inout git_remote_callbacks) {
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = gitCredentialCallback
        callbacks.certificate_check = gitCertificateCallback
        callbacks.transfer_progress = gitTransferProgressCallback
        callbacks.push_transfer_progress = gitPushProgressCallback
        callbacks.push_update_reference = gitPushUpdateReferenceCallback
        callbacks.sideband_progress = gitSidebandCallback
    }

    func stopCancelled() -> Int32 {
        stop(GitError(.cancelled, operation: operation, remote: remote.url, message: "cancelled"))
    }

    func stop(_ error: GitError) -> Int32 {
        if failure == nil { failure = error }
        return GIT_EUSER.rawValue
    }
}

private let gitCredentialCallback: git_credential_acquire_cb = { out, url, usernameFromURL, allowedTypes, payload in
    let state = OperationState.from(payload)
    if state.cancellation.isCancelled { return state.stopCancelled() }
    state.credentialAttempts += 1
    let user = usernameFromURL.map { String(cString: $0) }
    guard state.credentialAttempts <= 1 else {
        // A second request means the first credential was refused.
        switch state.authentication {
        case .sshKey:
            return state.stop(
                GitError(
                    .authentication, operation: state.operation, remote: state.remote.url,
                    message: "the SSH server refused key id \(user ?? "(none)") for this key",
                    hint:
                        """
                        check that the key id in the URL is the SSHPublicKeyId of this key's public half, that the \
                        key is Active in IAM, and that its IAM user may use the repository
                        """
                ))
        case .basic(let username, _):
            return state.stop(
                GitError(
                    .authentication, operation: state.operation, remote: state.remote.url,
                    message:
                        """
                        the server refused the password of \
                        \(username.split(separator: "%").first.map(String.init) ?? username)
                        """,
                    hint:
                        """
                        check the credentials' account and permissions (codecommit:GitPull, codecommit:GitPush) and \
                        the repository's region
                        """
                ))
        case .none:
            return state.stop(
                GitError(
                    .authentication, operation: state.operation, remote: state.remote.url,
                    message: "the server wants credentials and none were configured"))
        }
    }
    // A local copy, and C strings built one by one: an optional passed straight into the call made the Swift 6.3
    // optimizer's ownership verifier crash in release builds.
    let authentication = state.authentication
    switch authentication {
    case .sshKey(let publicKey, let privateKey, let passphrase):
        guard
            allowedTypes & GIT_CREDENTIAL_SSH_MEMORY.rawValue != 0
                || allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0
        else {
            return state.stop(
                GitError(
                    .authentication, operation: state.operation, remote: state.remote.url,
                    message: "the server does not accept SSH keys here"))
        }
        guard let user, !user.isEmpty else {
            return state.stop(
                GitError(
                    .invalid, operation: state.operation, remote: state.remote.url,
                    message: "the SSH URL names no user",
                    hint:
                        """
                        CodeCommit needs the SSH key id as user: \
                        ssh://APKA…@git-codecommit.<region>.amazonaws.com/v1/repos/<name>
                        """
                ))
        }
        let privateText = privateKey.reveal()
        guard let passphrase else { return git_credential_ssh_key_memory_new(out, user, publicKey, privateText, nil) }
        let passphraseText = passphrase.reveal()
        return git_credential_ssh_key_memory_new(out, user, publicKey, privateText, passphraseText)
    case .basic(let username, let password):
        guard allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
            return state.stop(
                GitError(
                    .authentication, operation: state.operation, remote: state.remote.url,
                    message: "the server does not accept a username and password"))
        }
        return git_credential_userpass_plaintext_new(out, username, password.reveal())
    case .none:
        return GIT_PASSTHROUGH.rawValue
    }
}

private let gitCertificateCallback: git_transport_certificate_check_cb = { certificate, valid, host, payload in
    let state = OperationState.from(payload)
    if state.cancellation.isCancelled { return state.stopCancelled() }
    guard let certificate else {
        return state.stop(
            GitError(
                .serverIdentity, operation: state.operation, remote: state.remote.url,
                message: "the server presented no identity"))
    }
    let hostName = host.map { String(cString: $0) } ?? ""
    switch certificate.pointee.cert_type {
    case GIT_CERT_X509:
        let x509 = UnsafeRawPointer(certificate).assumingMemoryBound(to: git_cert_x509.self).pointee
        let der = Array(UnsafeRawBufferPointer(start: x509.data, count: x509.len))
        // With the system's trust, mbedTLS's own verdict counts too (it sees the intermediates; we see the leaf only).
        if state.remote.trust.caPEM == nil, valid != 0 { return 0 }
        if let problem = CertificateVerifier.verify(leafDER: der, trustedPEM: state.remote.trust.caPEM, host: hostName)
        {
            return state.stop(
                GitError(
                    .serverIdentity, operation: state.operation, remote: state.remote.url, message: problem,
                    hint: state.remote.trust.caPEM == nil
                        ? "set the CA bundle (AWS_CA_BUNDLE) if the server uses a private CA"
                        : "check the CA bundle configured for this remote"))
        }
        return 0
    case GIT_CERT_HOSTKEY_LIBSSH2:
        let hostKey = UnsafeRawPointer(certificate).assumingMemoryBound(to: git_cert_hostkey.self).pointee
        guard hostKey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostKey.hostkey else {
            return state.stop(
                GitError(
                    .serverIdentity, operation: state.operation, remote: state.remote.url,
                    message: "libssh2 gave no raw host key to pin"))
        }
        let keyType: String =
            switch hostKey.raw_type {
            case GIT_CERT_SSH_RAW_TYPE_RSA: "ssh-rsa"
            case GIT_CERT_SSH_RAW_TYPE_DSS: "ssh-dss"
            case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256: "ecdsa-sha2-nistp256"
            case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384: "ecdsa-sha2-nistp384"
            case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521: "ecdsa-sha2-nistp521"
            case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519: "ssh-ed25519"
            default: "unknown"
            }
        let blob = Array(UnsafeRawBufferPointer(start: raw, count: hostKey.hostkey_len))
        let port = GitURL.parts(state.remote.url)?.port
        switch state.remote.trust.hostKeys.check(host: hostName, port: port, keyType: keyType, key: blob) {
        case .pinnedNow, .matches:
            return 0
        case .changed(let expected, let presented):
            return state.stop(
                GitError(
                    .serverIdentity, operation: state.operation, remote: state.remote.url,
                    message:
                        """
                        the SSH host key of \(HostKeyPins.pattern(host: hostName, port: port)) changed: pinned \
                        \(expected), presented \(presented)
                        """,
                    hint:
                        """
                        if the server's key was really replaced, remove its pin (known_hosts) and run again; \
                        otherwise someone may be in the middle
                        """
                ))
        }
    default:
        return state.stop(
            GitError(
                .serverIdentity, operation: state.operation, remote: state.remote.url,
                message: "unsupported server identity type \(certificate.pointee.cert_type.rawValue)"))
    }
}

private let gitTransferProgressCallback: git_indexer_progress_cb = { _, payload in
    let state = OperationState.from(payload)
    return state.cancellation.isCancelled ? state.stopCancelled() : 0
}

private let gitPushProgressCallback: git_push_transfer_progress_cb = { _, _, _, payload in
    let state = OperationState.from(payload)
    return state.cancellation.isCancelled ? state.stopCancelled() : 0
}

private let gitSidebandCallback: git_transport_message_cb = { _, _, payload in
    let state = OperationState.from(payload)
    return state.cancellation.isCancelled ? state.stopCancelled() : 0
}

private let gitPushUpdateReferenceCallback: git_push_update_reference_cb = { refname, status, payload in
    let state = OperationState.from(payload)
    if let status, let refname { state.rejected[String(cString: refname)] = String(cString: status) }
    return 0
}
