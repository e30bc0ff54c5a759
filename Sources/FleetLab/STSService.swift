// STS as the lab serves it: AssumeRole (trust, external id, duration), AssumeRoleWithWebIdentity,
// GetCallerIdentity by POST and by presigned GET (the EKS token form).
import Foundation
import SigV4

struct STSService {
    let state: LabState
    static let namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

    func handle(_ parameters: [String: String], caller: LabSigV4Verifier.Caller?) -> LabResponse {
        let action = parameters["Action"] ?? ""
        do {
            switch action {
            case "GetCallerIdentity":
                guard let caller else { throw LabError.from(.missing, json: false) }
                return wrap(
                    action,
                    """
                    <Arn>\(caller.identity.arn)</Arn>
                    <UserId>\(caller.identity.userID)</UserId>
                    <Account>\(caller.identity.accountID)</Account>
                    """)
            case "AssumeRole":
                guard let caller else { throw LabError.from(.missing, json: false) }
                return try assumeRole(parameters, caller: caller)
            case "AssumeRoleWithWebIdentity":
                return try assumeRoleWithWebIdentity(parameters)
            default:
                throw LabError(
                    code: "InvalidAction", message: "Could not find operation \(action) for version 2011-06-15",
                    status: 400)
            }
        } catch let error as LabError {
            return error.response(protocol: .query(namespace: Self.namespace))
        } catch {
            return LabError(code: "InternalFailure", message: "\(error)", status: 500, type: "Receiver")
                .response(protocol: .query(namespace: Self.namespace))
        }
    }

    private func assumeRole(_ p: [String: String], caller: LabSigV4Verifier.Caller) throws -> LabResponse {
        guard let roleARN = p["RoleArn"], let session = p["RoleSessionName"] else {
            throw LabError(code: "MissingParameter", message: "RoleArn and RoleSessionName are required", status: 400)
        }
        guard session.wholeMatch(of: /[\w+=,.@-]{2,64}/) != nil else {
            throw LabError(
                code: "ValidationError",
                message:
                    "1 validation error detected: Value '\(session)' at 'roleSessionName' failed to satisfy constraint",
                status: 400)
        }
        let duration = Int(p["DurationSeconds"] ?? "3600") ?? -1
        let chained = caller.identity.sessionToken != nil
        guard duration >= 900, duration <= (chained ? 3600 : 43_200) else {
            throw LabError(
                code: "ValidationError",
                message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", status: 400)
        }
        guard let role = state.role(arn: roleARN) else {
            throw LabError.denied(
                "User: \(caller.identity.arn) is not authorized to perform: sts:AssumeRole on resource: \(roleARN)")
        }
        let trusted = role.trust ?? []
        let principal = caller.identity.roleARN ?? caller.identity.arn
        guard trusted.isEmpty || trusted.contains(principal) || trusted.contains(caller.identity.accountID) else {
            throw LabError.denied(
                "User: \(caller.identity.arn) is not authorized to perform: sts:AssumeRole on resource: \(roleARN)")
        }
        if let externalID = role.externalId, externalID != p["ExternalId"] {
            throw LabError.denied(
                "User: \(caller.identity.arn) is not authorized to perform: sts:AssumeRole on resource: \(roleARN)")
        }
        return credentials(
            "AssumeRole",
            state.issueSession(roleARN: roleARN, sessionName: session, duration: min(duration, state.sessionSeconds)))
    }

    private func assumeRoleWithWebIdentity(_ p: [String: String]) throws -> LabResponse {
        guard let roleARN = p["RoleArn"], let session = p["RoleSessionName"], let token = p["WebIdentityToken"] else {
            throw LabError(
                code: "MissingParameter", message: "RoleArn, RoleSessionName and WebIdentityToken are required",
                status: 400)
        }
        guard token.split(separator: ".").count == 3 else {
            throw LabError(
                code: "InvalidIdentityToken", message: "The ID Token provided is not a valid JWT", status: 400)
        }
        guard let role = state.role(arn: roleARN), role.webIdentity == true else {
            throw LabError.denied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        }
        return credentials(
            "AssumeRoleWithWebIdentity",
            state.issueSession(roleARN: roleARN, sessionName: session, duration: state.sessionSeconds))
    }

    private func credentials(_ action: String, _ s: LabState.Identity) -> LabResponse {
        wrap(
            action,
            """
            <Credentials>
              <AccessKeyId>\(s.accessKeyID)</AccessKeyId>
              <SecretAccessKey>\(LabEncoding.xmlEscape(s.secret))</SecretAccessKey>
              <SessionToken>\(LabEncoding.xmlEscape(s.sessionToken ?? ""))</SessionToken>
              <Expiration>\(AWSTimestamp.iso8601(s.expiration ?? state.now()))</Expiration>
            </Credentials>
            <AssumedRoleUser>
              <AssumedRoleId>\(s.userID)</AssumedRoleId>
              <Arn>\(s.arn)</Arn>
            </AssumedRoleUser>
            <PackedPolicySize>0</PackedPolicySize>
            """)
    }

    private func wrap(_ action: String, _ body: String) -> LabResponse {
        .xml(
            """
            <\(action)Response xmlns="\(Self.namespace)">
              <\(action)Result>
            \(body)
              </\(action)Result>
              <ResponseMetadata><RequestId>\(UUID().uuidString)</RequestId></ResponseMetadata>
            </\(action)Response>
            """)
    }
}
