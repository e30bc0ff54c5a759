// What the user's environment says about AWS: profile, region, endpoints, CA bundle, and the default credential
// chain built from all of it, the way botocore builds it.
import FleetSupport
import Foundation
import SigV4

public struct AWSEnvironment: Sendable {
    public let variables: [String: String]
    public let config: SharedConfig
    public let client: AWSClient

    public init(variables: [String: String] = ProcessInfo.processInfo.environment, client: AWSClient? = nil) throws {
        self.variables = variables
        self.config = SharedConfig.load(environment: variables)
        self.client = try client ?? AWSClient(configuration: .environment(variables))
    }

    /// `AWS_PROFILE` (or `AWS_DEFAULT_PROFILE`), else `default`.
    public var profileName: String {
        variables["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? variables["AWS_DEFAULT_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
    }

    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
    public var region: String? {
        for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let r = variables[key], !r.isEmpty { return r }
        }
        return config.profiles[profileName]?["region"]
    }

    /// The default chain, cached: environment, the profile, web identity (IRSA), container, IMDSv2.
    public func defaultCredentials(region fallbackRegion: String = "us-east-1") throws -> any CredentialProvider {
        let region = self.region ?? fallbackRegion
        var providers: [any CredentialProvider] = [EnvironmentCredentialProvider(environment: variables)]
        let explicitProfile = variables["AWS_PROFILE"] != nil || variables["AWS_DEFAULT_PROFILE"] != nil
        if config.profiles[profileName] != nil {
            providers.append(try profileCredentials(profileName, region: region))
        } else if explicitProfile {
            throw CredentialError.invalid(
                "profile \(profileName)", "AWS_PROFILE names a profile that is not in the config or credentials file")
        }
        if let role = variables["AWS_ROLE_ARN"], let file = variables["AWS_WEB_IDENTITY_TOKEN_FILE"], !role.isEmpty,
            !file.isEmpty
        {
            providers.append(
                WebIdentityCredentialProvider(
                    sts: STSClient(client: client, region: region), roleARN: role, tokenFile: file,
                    sessionName: variables["AWS_ROLE_SESSION_NAME"]))
        }
        providers.append(ContainerCredentialProvider(environment: variables, http: client.http))
        providers.append(IMDSCredentialProvider(environment: variables, http: client.http))
        return CachedCredentialProvider(CredentialChain(providers))
    }

    /// A profile's credentials: role chains through `source_profile` or `credential_source`, web identity, static
    /// keys, `credential_process`.
    public func profileCredentials(_ name: String, region: String) throws -> any CredentialProvider {
        try profileCredentials(name, region: region, visited: [])
    }

    private func profileCredentials(_ name: String, region: String, visited: [String]) throws -> any CredentialProvider
    {
        let source = "profile \(name)"
        guard let p = config.profiles[name] else {
            throw CredentialError.invalid(
                source, "no such profile (referred to by \(visited.last.map { "profile \($0)" } ?? "AWS_PROFILE"))")
        }
        guard !visited.contains(name) else {
            throw CredentialError.invalid(
                source, "source_profile chain loops: \((visited + [name]).joined(separator: " → "))")
        }
        let sts = STSClient(client: client, region: p["region"] ?? region)
        if let roleARN = p["role_arn"] {
            if let file = p["web_identity_token_file"] {
                return CachedCredentialProvider(
                    WebIdentityCredentialProvider(
                        sts: sts, roleARN: roleARN, tokenFile: file, sessionName: p["role_session_name"]))
            }
            let base: any CredentialProvider
            if let sourceProfile = p["source_profile"] {
                if sourceProfile == name {
                    base = try staticCredentials(p, source: source)
                } else {
                    base = try profileCredentials(sourceProfile, region: region, visited: visited + [name])
                }
            } else if let credentialSource = p["credential_source"] {
                switch credentialSource {
                case "Environment": base = EnvironmentCredentialProvider(environment: variables)
                case "Ec2InstanceMetadata": base = IMDSCredentialProvider(environment: variables, http: client.http)
                case "EcsContainer": base = ContainerCredentialProvider(environment: variables, http: client.http)
                default:
                    throw CredentialError.invalid(
                        source,
                        """
                        credential_source '\(credentialSource)' is not Environment, Ec2InstanceMetadata or \
                        EcsContainer
                        """
                    )
                }
            } else {
                throw CredentialError.invalid(
                    source, "role_arn needs source_profile, credential_source or web_identity_token_file")
            }
            let request = STSClient.AssumeRoleRequest(
                roleARN: roleARN,
                sessionName: p["role_session_name"] ?? "fleetstrap-\(Int(Date().timeIntervalSince1970))",
                externalID: p["external_id"], durationSeconds: p["duration_seconds"].flatMap { Int($0) })
            return CachedCredentialProvider(AssumeRoleCredentialProvider(sts: sts, request: request, source: base))
        }
        if p["aws_access_key_id"] != nil { return try staticCredentials(p, source: source) }
        if let command = p["credential_process"] {
            return CachedCredentialProvider(ProcessCredentialProvider(command: command, profile: name))
        }
        throw CredentialError.notFound(source, "the profile has no credentials")
    }

    private func staticCredentials(_ p: [String: String], source: String) throws -> any CredentialProvider {
        guard let id = p["aws_access_key_id"], let secret = p["aws_secret_access_key"] else {
            throw CredentialError.invalid(source, "aws_access_key_id needs aws_secret_access_key")
        }
        return StaticCredentialProvider(
            AWSCredentials(
                accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: p["aws_session_token"].map(Secret.init),
                source: source))
    }
}

/// The role fleetstrap assumes in one account of the inventory.
public struct AccountRole: Sendable, Hashable {
    public var account: String
    public var roleARN: String?
    public var externalID: String?
    public var sessionName: String
    public var durationSeconds: Int
    public var region: String

    public init(
        account: String, roleARN: String?, externalID: String?, sessionName: String, durationSeconds: Int,
        region: String
    ) {
        self.account = account
        self.roleARN = roleARN
        self.externalID = externalID
        self.sessionName = sessionName
        self.durationSeconds = durationSeconds
        self.region = region
    }
}

/// One cached role session per account: a thousand clusters of one account cause one AssumeRole, refreshed ahead
/// of expiry by whichever caller needs it first.
public actor AccountSessions {
    private let base: any CredentialProvider
    private let client: AWSClient
    private var sessions: [String: any CredentialProvider] = [:]

    public init(base: any CredentialProvider, client: AWSClient) {
        self.base = base
        self.client = client
    }

    public func credentials(for role: AccountRole) -> any CredentialProvider {
        if let provider = sessions[role.account] { return provider }
        let provider: any CredentialProvider
        if let roleARN = role.roleARN {
            provider = CachedCredentialProvider(
                AssumeRoleCredentialProvider(
                    sts: STSClient(client: client, region: role.region),
                    request: .init(
                        roleARN: roleARN, sessionName: role.sessionName, externalID: role.externalID,
                        durationSeconds: role.durationSeconds),
                    source: base, account: role.account))
        } else {
            provider = base
        }
        sessions[role.account] = provider
        return provider
    }
}
