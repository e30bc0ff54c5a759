// Broken inventories on disk: each file states the diagnostics it must produce (`# expect: RULE LINE:COLUMN`),
// and must produce exactly those errors, quickly, without crashing.
import Foundation
import Inventory
import Testing

@Suite("Broken inventory corpus")
struct CorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func corpusIsLargeEnough() {
        #expect(Self.files.count >= 15)
    }

    @Test(arguments: files)
    func producesExactlyTheExpectedErrors(file: String) throws {
        let url = Self.directory.appendingPathComponent(file)
        let bytes = try Data(contentsOf: url)
        let header = String(decoding: bytes.prefix(4096), as: UTF8.self)
        let expected = Set(
            header.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("# expect: ") else { return nil }
                return String(line.dropFirst("# expect: ".count))
            })
        #expect(!expected.isEmpty, "\(file) states no expectation")
        let result = InventoryLoader.validate(path: url.path)
        let actual = Set(result.errors.map { "\($0.rule) \($0.location.line):\($0.location.column)" })
        #expect(actual == expected, "\(result.errors.map(\.description))")
        #expect(result.inventory == nil)
        // A secret written inline is never echoed back.
        #expect(!result.diagnostics.description.contains("correct horse"))
    }
}
