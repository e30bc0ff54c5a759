// Where credentials come from: a provider answers with credentials, or says it has none so a chain can go on.
import FleetSupport
import Foundation
import SigV4

public protocol CredentialProvider: Sendable {
    /// Credentials valid now. Throws `CredentialError.notFound` when this source has none, other errors when it
    /// has some but could not produce them.
    func credentials() async throws -> AWSCredentials
    /// AWS refused `credentials` as expired (its clock, or a revoked session, disagreeing with their expiry): a
    /// cache drops them so the next call fetches new ones. Sources without a cache ignore it.
    func invalidate(_ credentials: AWSCredentials) async
}

extension CredentialProvider {
    public func invalidate(_ credentials: AWSCredentials) async {}
}

public struct CredentialError: FleetError, Hashable {
    public enum Kind: Sendable, Hashable { case notFound, invalid, failed }
    public let kind: Kind
    public let source: String
    public let detail: String

    public static func notFound(_ source: String, _ detail: String = "no credentials") -> Self {
        Self(kind: .notFound, source: source, detail: detail)
    }
    public static func invalid(_ source: String, _ detail: String) -> Self {
        Self(kind: .invalid, source: source, detail: detail)
    }
    public static func failed(_ source: String, _ detail: String) -> Self {
        Self(kind: .failed, source: source, detail: detail)
    }

    public var errorClass: String { "aws.credentials" }
    public var description: String { "\(source): \(detail)" }
    public var hint: String? {
        kind == .notFound
            ? """
            set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/config, or \
            run where IRSA, ECS or EC2 instance credentials are available
            """
            : nil
    }
}

/// Fixed credentials (tests, `--access-key` style use).
public struct StaticCredentialProvider: CredentialProvider {
    let value: AWSCredentials
    public init(_ credentials: AWSCredentials) { value = credentials }
    public func credentials() async throws -> AWSCredentials { value }
}

/// Caches another provider's temporary credentials and refreshes them ahead of expiry. Concurrent callers share one
/// refresh (single flight); a failed refresh is not remembered, so the next caller tries again. While refreshing
/// inside the advisory window, callers keep using the still-valid credentials if the refresh fails.
public actor CachedCredentialProvider: CredentialProvider {
    private let source: any CredentialProvider
    private let now: @Sendable () -> Date
    /// Refresh when less than this is left, but keep using the old ones if refreshing fails (botocore: 15 min).
    private let advisory: TimeInterval
    /// Never hand out credentials with less than this left (botocore: 10 min).
    private let mandatory: TimeInterval
    private var cached: AWSCredentials?
    private var refreshing: Task<AWSCredentials, any Error>?
    public private(set) var refreshCount = 0

    public init(
        _ source: any CredentialProvider, advisory: TimeInterval = 15 * 60, mandatory: TimeInterval = 10 * 60,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.source = source
        self.advisory = advisory
        self.mandatory = mandatory
        self.now = now
    }

    public func credentials() async throws -> AWSCredentials {
        let now = now()
        if let cached {
            if !cached.expires(within: advisory, of: now) { return cached }
            if !cached.expires(within: mandatory, of: now) {
                return (try? await refresh()) ?? cached
            }
        }
        return try await refresh()
    }

    public func invalidate(_ credentials: AWSCredentials) async {
        if cached?.accessKeyID == credentials.accessKeyID { cached = nil }
    }

    private func refresh() async throws -> AWSCredentials {
        if let refreshing { return try await refreshing.value }
        let task = Task { [source] in try await source.credentials() }
        refreshing = task
        defer { refreshing = nil }
        let fresh = try await task.value
        cached = fresh
        refreshCount += 1
        return fresh
    }
}

/// The first provider of the list that has credentials.
public struct CredentialChain: CredentialProvider {
    let providers: [any CredentialProvider]

    public init(_ providers: [any CredentialProvider]) { self.providers = providers }

    public func invalidate(_ credentials: AWSCredentials) async {
        for provider in providers { await provider.invalidate(credentials) }
    }

    public func credentials() async throws -> AWSCredentials {
        var tried: [String] = []
        for provider in providers {
            do {
                return try await provider.credentials()
            } catch let error as CredentialError where error.kind == .notFound {
                tried.append(error.description)
            }
        }
        throw CredentialError.notFound(
            "credential chain", "no credentials found (tried: \(tried.joined(separator: "; ")))")
    }
}
