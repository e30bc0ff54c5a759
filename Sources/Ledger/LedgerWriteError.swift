// A write the ledger's disk refused (full, read-only, an I/O error). A run cannot go on without its journal: the
// orchestrator stops starting clusters when it sees one, and the run is resumed once the disk has room again.
import FleetSupport
import GRDB

public struct LedgerWriteError: FleetError, Equatable {
    public let path: String
    public let detail: String
    public let isFull: Bool

    public init(path: String, detail: String, isFull: Bool) {
        (self.path, self.detail, self.isFull) = (path, detail, isFull)
    }

    public var description: String { "cannot write the ledger \(path): \(isFull ? "its disk is full" : detail)" }
    public var errorClass: String { isFull ? "ledger.full" : "ledger.write" }
    public var hint: String? {
        """
        free space on the ledger's disk (or copy the ledger where there is room and pass --ledger), then continue \
        with --resume-last
        """
    }

    /// The storage failure `error` is, if it is one (GRDB's error for SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY…).
    public static func from(_ error: any Error, path: String) -> LedgerWriteError? {
        if let error = error as? LedgerWriteError { return error }
        guard let database = error as? DatabaseError else { return nil }
        switch database.resultCode {
        case .SQLITE_FULL: return LedgerWriteError(path: path, detail: database.message ?? "disk full", isFull: true)
        case .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return LedgerWriteError(
                path: path, detail: "\(database.message ?? "\(database.resultCode)")", isFull: false)
        default: return nil
        }
    }
}
