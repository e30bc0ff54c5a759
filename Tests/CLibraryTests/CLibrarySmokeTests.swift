// Each system library links and does one real thing.
import CCurl
import CGit2
import COpenSSL
import FleetCrypto
import FleetSupport
import Foundation
import Testing

@Suite("C libraries")
struct CLibrarySmokeTests {
    @Test func opensslHMACSHA256MatchesRFC4231Case2() {
        let mac = HMACSHA256.authenticate("what do ya want for nothing?", key: Array("Jefe".utf8))
        #expect(mac.hexString == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func opensslSHA256OfEmptyInput() {
        #expect(SHA256.hash([UInt8]()).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func curlReportsItsVersion() throws {
        let version = String(cString: try #require(curl_version()))
        #expect(version.hasPrefix("libcurl/"))
        let info = try #require(curl_version_info(CURLVERSION_TENTH))
        #expect(info.pointee.features & CURL_VERSION_SSL != 0, "libcurl must be built with TLS")
    }

    @Test func libgit2InitialisesARepository() throws {
        #expect(git_libgit2_init() >= 1)
        defer { git_libgit2_shutdown() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleetstrap-git-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var repository: OpaquePointer?
        #expect(git_repository_init(&repository, directory.path, 1) == 0)
        defer { git_repository_free(repository) }
        #expect(git_repository_is_bare(repository) == 1)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("HEAD").path))
        var major: Int32 = 0
        var minor: Int32 = 0
        var revision: Int32 = 0
        git_libgit2_version(&major, &minor, &revision)
        #expect(major >= 1)
    }
}
