// The fuzzer's seeds and every input it once crashed on, replayed through all parsers of untrusted input by the plain
// build of fleetstrap-fuzz: a fixed crash stays fixed without a libFuzzer toolchain (`make fuzz` finds new ones).
import Foundation
import Testing

@Suite("Fuzz corpus replay")
struct FuzzCorpusReplayTests {
    static let folder = Binary.packageRoot.appendingPathComponent("Tests/Fuzz")

    @Test func seedsAndCrashesReplayCleanly() throws {
        let seeds = try FileManager.default.contentsOfDirectory(
            atPath: Self.folder.appendingPathComponent("seeds").path)
        let crashes = try FileManager.default.contentsOfDirectory(
            atPath: Self.folder.appendingPathComponent("crashes").path)
        #expect(seeds.count >= 20 && crashes.count >= 2)
        let result = try Binary.run(
            [Self.folder.appendingPathComponent("seeds").path, Self.folder.appendingPathComponent("crashes").path],
            executable: Binary.productsDirectory.appendingPathComponent("fleetstrap-fuzz").path)
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("replayed \(seeds.count + crashes.count) inputs"), "\(result.stdout)")
    }
}
