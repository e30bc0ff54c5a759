// A Git object id (SHA-1), as Swift holds it and libgit2 takes it.
import CGit2

public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    init(_ oid: git_oid) {
        var oid = oid
        bytes = withUnsafeBytes(of: &oid.id) { Array($0) }
    }

    public init?(hex: String) {
        guard hex.count == 40, let bytes = [UInt8](hex: hex) else { return nil }
        self.bytes = bytes
    }

    var oid: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: bytes) }
        return oid
    }

    public var hex: String { bytes.hexString }
    public var description: String { hex }
}
