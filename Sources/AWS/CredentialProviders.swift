// The sources of the default credential chain, in botocore's order: environment, profile (assume role, web
// identity, static keys, credential_process), web identity from the environment (IRSA), container, IMDSv2.
import FleetSupport
import Foundation
import HTTP
import SigV4

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (`AWS_SECURITY_TOKEN` too, as botocore reads it).
public struct EnvironmentCredentialProvider: CredentialProvider {
    let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    public func credentials() async throws -> AWSCredentials {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty else {
            throw CredentialError.notFound("environment", "AWS_ACCESS_KEY_ID is not set")
        }
        guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw CredentialError.invalid("environment", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        let token = environment["AWS_SESSION_TOKEN"] ?? environment["AWS_SECURITY_TOKEN"]
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: Secret(secret),
            sessionToken: token.flatMap { $0.isEmpty ? nil : Secret($0) },
            expiration: environment["AWS_CREDENTIAL_EXPIRATION"].flatMap(AWSTimestamp.parseISO8601),
            source: "environment")
    }
}

/// AssumeRole with another provider's credentials (a profile's `role_arn`, an inventory account's role).
public struct AssumeRoleCredentialProvider: CredentialProvider {
    let sts: STSClient
    let request: STSClient.AssumeRoleRequest
    let source: any CredentialProvider
    let account: String

    public init(
        sts: STSClient, request: STSClient.AssumeRoleRequest, source: any CredentialProvider,
        account: String = "default"
    ) {
        self.sts = sts
        self.request = request
        self.source = source
        self.account = account
    }

    public func credentials() async throws -> AWSCredentials {
        do {
            return try await sts.assumeRole(request, credentials: source, account: account)
        } catch let error as CredentialError where error.kind == .notFound {
            throw CredentialError.failed("assume role \(request.roleARN)", "no source credentials: \(error.detail)")
        }
    }
}

/// AssumeRoleWithWebIdentity with a token read from a file each time (the projected IRSA token rotates).
public struct WebIdentityCredentialProvider: CredentialProvider {
    let sts: STSClient
    let roleARN: String
    let tokenFile: String
    let sessionName: String

    public init(sts: STSClient, roleARN: String, tokenFile: String, sessionName: String?) {
        self.sts = sts
        self.roleARN = roleARN
        self.tokenFile = tokenFile
        self.sessionName = sessionName ?? "fleetstrap-\(Int(Date().timeIntervalSince1970))"
    }

    public func credentials() async throws -> AWSCredentials {
        guard let data = FileManager.default.contents(atPath: tokenFile), !data.isEmpty else {
            throw CredentialError.failed("web identity", "cannot read the token file \(tokenFile)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return try await sts.assumeRoleWithWebIdentity(roleARN: roleARN, sessionName: sessionName, token: Secret(token))
    }
}

/// `credential_process`: runs the command and reads `{"Version": 1, "AccessKeyId", ...}` from its stdout.
public struct ProcessCredentialProvider: CredentialProvider {
    let command: String
    let profile: String

    public init(command: String, profile: String) {
        self.command = command
        self.profile = profile
    }

    public func credentials() async throws -> AWSCredentials {
        let source = "credential_process of profile \(profile)"
        let (status, output) = try await Self.run(command)
        guard status == 0 else { throw CredentialError.failed(source, "the command exited with status \(status)") }
        guard let object = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw CredentialError.failed(source, "the command did not print a JSON object")
        }
        guard (object["Version"] as? Int) == 1 else { throw CredentialError.failed(source, "Version must be 1") }
        guard let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String else {
            throw CredentialError.failed(source, "AccessKeyId and SecretAccessKey are required")
        }
        let expiration = (object["Expiration"] as? String).flatMap(AWSTimestamp.parseISO8601)
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: Secret(secret),
            sessionToken: (object["SessionToken"] as? String).map(Secret.init),
            expiration: expiration, source: source)
    }

    /// Runs `/bin/sh -c command`.
    static func run(_ command: String) async throws -> (Int32, Data) {
        do {
            let result = try await ChildProcess.run("/bin/sh", ["-c", command])
            return (result.status, result.stdout)
        } catch {
            throw CredentialError.failed("credential_process", "cannot run it: \(error)")
        }
    }
}

/// ECS/EKS Pod Identity container credentials: `AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI`, with
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`.
public struct ContainerCredentialProvider: CredentialProvider {
    let environment: [String: String]
    let http: HTTPClient

    public init(environment: [String: String], http: HTTPClient = .shared) {
        self.environment = environment
        self.http = http
    }

    public func credentials() async throws -> AWSCredentials {
        let url: String
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = "http://169.254.170.2" + relative
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            url = full
        } else {
            throw CredentialError.notFound("container", "AWS_CONTAINER_CREDENTIALS_*_URI is not set")
        }
        var headers: [(String, String)] = []
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"],
            let data = FileManager.default.contents(atPath: file)
        {
            headers.append(
                ("Authorization", String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            )
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] {
            headers.append(("Authorization", token))
        }
        let response = try await http.execute(
            HTTPRequest(url: url, headers: headers, timeout: .seconds(5), connectTimeout: .seconds(2)))
        guard response.status == 200 else {
            throw CredentialError.failed(
                "container", "\(HTTPRequest(url: url).redactedURL) answered HTTP \(response.status)")
        }
        return try Self.parse(response.body, source: "container")
    }

    /// The JSON container endpoints and IMDS return: AccessKeyId, SecretAccessKey, Token, Expiration.
    static func parse(_ body: [UInt8], source: String) throws -> AWSCredentials {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String
        else { throw CredentialError.failed(source, "the answer is not a credentials document") }
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: Secret(secret),
            sessionToken: (object["Token"] as? String).map(Secret.init),
            expiration: (object["Expiration"] as? String).flatMap(AWSTimestamp.parseISO8601), source: source)
    }
}

/// EC2 instance metadata, version 2 only (a session token first): the instance profile's role credentials.
public struct IMDSCredentialProvider: CredentialProvider {
    let endpoint: String
    let disabled: Bool
    let http: HTTPClient

    public init(environment: [String: String], http: HTTPClient = .shared) {
        var endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.disabled = environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
        self.http = http
    }

    public func credentials() async throws -> AWSCredentials {
        guard !disabled else {
            throw CredentialError.notFound("instance metadata", "AWS_EC2_METADATA_DISABLED is true")
        }
        let token: HTTPResponse
        do {
            token = try await http.execute(
                HTTPRequest(
                    method: "PUT", url: "\(endpoint)/latest/api/token",
                    headers: [("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
                    timeout: .seconds(2), connectTimeout: .seconds(1)))
        } catch let error as HTTPClientError {
            throw CredentialError.notFound("instance metadata", "not reachable (\(error.detail))")
        }
        guard token.status == 200 else {
            throw CredentialError.notFound("instance metadata", "token request answered HTTP \(token.status)")
        }
        let header = [("x-aws-ec2-metadata-token", token.bodyText)]
        let base = "\(endpoint)/latest/meta-data/iam/security-credentials/"
        let roles = try await http.execute(HTTPRequest(url: base, headers: header, timeout: .seconds(2)))
        guard roles.status == 200, let role = roles.bodyText.split(separator: "\n").first.map(String.init),
            !role.isEmpty
        else {
            throw CredentialError.notFound("instance metadata", "no instance profile role")
        }
        let answer = try await http.execute(HTTPRequest(url: base + role, headers: header, timeout: .seconds(2)))
        guard answer.status == 200 else {
            throw CredentialError.failed("instance metadata", "role \(role) answered HTTP \(answer.status)")
        }
        return try ContainerCredentialProvider.parse(answer.body, source: "instance metadata (\(role))")
    }
}
