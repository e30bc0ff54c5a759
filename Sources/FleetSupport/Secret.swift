// A value that must never be printed: private keys, passphrases, AWS secrets, Git passwords, bearer tokens.

/// Holds a secret string. Its description, debug description and dump are redacted, so it can travel in errors
/// and log metadata without leaking; only `reveal()` hands out the clear text, at the one place that needs it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The clear text. Call it only where the secret is handed to its consumer (a signer, a C library, a cluster).
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
