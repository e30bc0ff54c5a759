// IAM's SSH public key API as the lab serves it, with IAM's rules: five keys per user, RSA ≥ 2048 bits in OpenSSH
// or PEM form, duplicates refused, MD5 fingerprints, APKA… ids, Marker/IsTruncated pagination.
import Foundation
import SigV4

struct IAMService {
    let state: LabState
    /// Called after keys change, so sshd's view of who may log in follows IAM at once.
    let keysChanged: @Sendable () -> Void
    static let namespace = "https://iam.amazonaws.com/doc/2010-05-08/"

    func handle(_ p: [String: String], caller: LabSigV4Verifier.Caller) -> LabResponse {
        let action = p["Action"] ?? ""
        let account = caller.identity.accountID
        do {
            if let refusal = IAMInputModel.refusal(p) { throw refusal }
            // Without UserName IAM acts on the calling user; a role session has none to act on.
            guard
                let user = p["UserName"]
                    ?? caller.identity.arn.split(separator: ":user/").dropFirst().first.map(String.init)
            else {
                throw LabError(
                    code: "ValidationError", message: "Must specify userName when calling with non-User credentials",
                    status: 400)
            }
            switch action {
            case "UploadSSHPublicKey":
                let body = p["SSHPublicKeyBody"] ?? ""
                let parsed: SSHPublicKeyParser.Parsed
                switch SSHPublicKeyParser.parse(body) {
                case .success(let k): parsed = k
                case .failure(.unrecognized):
                    throw LabError(
                        code: "UnrecognizedPublicKeyEncoding",
                        message: "The public key encoding format is unknown or unsupported.", status: 400)
                case .failure(.invalid(let why)):
                    throw LabError(
                        code: "InvalidPublicKey", message: "The public key is not valid: \(why).", status: 400)
                }
                let key = try state.uploadKey(
                    accountID: account, userName: user, body: parsed.openSSHLine, fingerprint: parsed.fingerprint)
                keysChanged()
                return wrap(action, "<SSHPublicKey>\(render(key, full: true))</SSHPublicKey>")
            case "ListSSHPublicKeys":
                let keys = try state.keys(accountID: account, userName: user)
                let start = Int(p["Marker"] ?? "0") ?? 0
                let size = max(1, min(Int(p["MaxItems"] ?? "100") ?? 100, 1000))
                let page = Array(keys.dropFirst(start).prefix(size))
                let truncated = start + page.count < keys.count
                return wrap(
                    action,
                    """
                    <SSHPublicKeys>\(page.map { "<member>\(render($0, full: false))</member>" }.joined())</SSHPublicKe\
                    ys>
                    <IsTruncated>\(truncated)</IsTruncated>\(truncated ? "<Marker>\(start + page.count)</Marker>" : "")
                    """)
            case "GetSSHPublicKey":
                guard
                    let key = try state.keys(accountID: account, userName: user).first(where: {
                        $0.id == p["SSHPublicKeyId"]
                    })
                else {
                    throw LabError.noSuchKey(p["SSHPublicKeyId"] ?? "")
                }
                return wrap(action, "<SSHPublicKey>\(render(key, full: true))</SSHPublicKey>")
            case "UpdateSSHPublicKey":
                let status = p["Status"] ?? ""
                try state.setKey(
                    accountID: account, userName: user, id: p["SSHPublicKeyId"] ?? "", active: status == "Active")
                keysChanged()
                return wrap(action, nil)
            case "CreateServiceSpecificCredential":
                guard p["ServiceName"] == "codecommit.amazonaws.com" else {
                    throw LabError(
                        code: "NotSupportedService",
                        message: "The specified service \(p["ServiceName"] ?? "") is not supported.", status: 404)
                }
                let c = try state.createGitCredential(accountID: account, userName: user)
                return wrap(
                    action,
                    """
                    <ServiceSpecificCredential><CreateDate>\(AWSTimestamp.iso8601(c.created))</CreateDate><ServiceName\
                    >codecommit.amazonaws.com</ServiceName>\
                    <ServiceUserName>\(c.serviceUserName)</ServiceUserName><ServicePassword>\
                    \(LabEncoding.xmlEscape(c.password))</ServicePassword>\
                    <ServiceSpecificCredentialId>\(c.id)</ServiceSpecificCredentialId><UserName>\(user)</UserName><Sta\
                    tus>Active</Status></ServiceSpecificCredential>
                    """)
            case "ListServiceSpecificCredentials":
                let credentials = try state.gitCredentials(accountID: account, userName: user).filter { _ in
                    p["ServiceName"] == nil || p["ServiceName"] == "codecommit.amazonaws.com"
                }
                return wrap(
                    action,
                    "<ServiceSpecificCredentials>"
                        + credentials.map { c in
                            """
                            <member><CreateDate>\(AWSTimestamp.iso8601(c.created))</CreateDate><ServiceName>codecommit\
                            .amazonaws.com</ServiceName>\
                            <ServiceUserName>\(c.serviceUserName)</ServiceUserName><ServiceSpecificCredentialId>\
                            \(c.id)</ServiceSpecificCredentialId>\
                            <UserName>\(user)</UserName><Status>\(c.active ? "Active" : "Inactive")</Status></member>
                            """
                        }.joined() + "</ServiceSpecificCredentials>")
            case "UpdateServiceSpecificCredential":
                guard let status = p["Status"], status == "Active" || status == "Inactive" else {
                    throw LabError(code: "ValidationError", message: "Status must be Active or Inactive", status: 400)
                }
                try state.setGitCredential(
                    accountID: account, userName: user, id: p["ServiceSpecificCredentialId"] ?? "",
                    active: status == "Active")
                return wrap(action, nil)
            case "DeleteServiceSpecificCredential":
                try state.setGitCredential(
                    accountID: account, userName: user, id: p["ServiceSpecificCredentialId"] ?? "", active: nil)
                return wrap(action, nil)
            case "DeleteSSHPublicKey":
                try state.deleteKey(accountID: account, userName: user, id: p["SSHPublicKeyId"] ?? "")
                keysChanged()
                return wrap(action, nil)
            default:
                throw LabError(
                    code: "InvalidAction", message: "Could not find operation \(action) for version 2010-05-08",
                    status: 400)
            }
        } catch let error as LabError {
            return error.response(protocol: .query(namespace: Self.namespace))
        } catch let error as LabState.KeyError {
            let user = p["UserName"] ?? ""
            let e: LabError =
                switch error {
                case .noSuchUser:
                    LabError(code: "NoSuchEntity", message: "The user with name \(user) cannot be found.", status: 404)
                case .limitExceeded:
                    action.contains("ServiceSpecific")
                        ? LabError(
                            code: "LimitExceeded",
                            message: "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: 2",
                            status: 409)
                        : LabError(
                            code: "LimitExceeded", message: "Cannot exceed quota for PublicKeysPerUser: 5", status: 409)
                case .duplicate:
                    LabError(
                        code: "DuplicateSSHPublicKey",
                        message: "The public key you have attempted to upload already exists for this user.",
                        status: 400)
                case .noSuchKey:
                    action.contains("ServiceSpecific")
                        ? LabError(
                            code: "NoSuchEntity",
                            message: "No such credential \(p["ServiceSpecificCredentialId"] ?? "")", status: 404)
                        : LabError.noSuchKey(p["SSHPublicKeyId"] ?? "")
                }
            return e.response(protocol: .query(namespace: Self.namespace))
        } catch {
            return LabError(code: "ServiceFailure", message: "\(error)", status: 500, type: "Receiver")
                .response(protocol: .query(namespace: Self.namespace))
        }
    }

    private func render(_ key: LabState.SSHKey, full: Bool) -> String {
        var xml = """
            <UserName>\(key.userName)</UserName><SSHPublicKeyId>\(key.id)</SSHPublicKeyId>\
            <Status>\(key.active ? "Active" : "Inactive")</Status><UploadDate>\(AWSTimestamp.iso8601(key.uploaded))</U\
            ploadDate>
            """
        if full {
            xml += "<Fingerprint>\(key.fingerprint)</Fingerprint><SSHPublicKeyBody>\(key.body)</SSHPublicKeyBody>"
        }
        return xml
    }

    private func wrap(_ action: String, _ body: String?) -> LabResponse {
        .xml(
            """
            <\(action)Response \
            xmlns="\(Self.namespace)">\(body.map { "<\(action)Result>\($0)</\(action)Result>" } ?? "")\
            <ResponseMetadata><RequestId>\(UUID().uuidString)</RequestId></ResponseMetadata></\(action)Response>
            """)
    }
}

extension LabError {
    static func noSuchKey(_ id: String) -> LabError {
        LabError(code: "NoSuchEntity", message: "The Public Key with id \(id) cannot be found.", status: 404)
    }
}
