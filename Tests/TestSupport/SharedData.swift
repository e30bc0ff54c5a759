// Reference data the tests read (the SigV4 suite, the AWS vectors, Flux's own bootstrap output), kept under
// Tests/Fixtures with their notices so that any clone runs every test.
import Foundation

public enum SharedData {
    /// `Tests/Fixtures` of this clone.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }  // Tests/TestSupport/SharedData.swift → Tests
        return url.appendingPathComponent("Fixtures")
    }()

    public static func url(_ path: String) -> URL { root.appendingPathComponent(path) }
}
