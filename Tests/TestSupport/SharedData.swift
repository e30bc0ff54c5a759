// ../shared (beside the clone) holds reference data: the SigV4 suite and AWS vectors. CI has it; a user's clone
// may not, and the tests that need it then skip and say so.
import Foundation

public enum SharedData {
    public static let root: URL? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Tests/TestSupport/SharedData.swift → the clone's parent
        let shared = url.appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: shared.appendingPathComponent("reference").path) ? shared : nil
    }()

    public static var available: Bool { root != nil }
    public static let skipReason = "../shared is not beside this clone (CI has it): reference data unavailable"

    public static func url(_ path: String) -> URL? { root?.appendingPathComponent(path) }
}
