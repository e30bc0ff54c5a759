import FleetSupport
import Testing

@Suite("Support")
struct FleetSupportTests {
    @Test func hexRoundTrips() {
        #expect([0x00, 0xAB, 0xFF].hexString == "00abff")
        #expect([UInt8](hex: "00abFF") == [0x00, 0xAB, 0xFF])
        #expect([UInt8](hex: "abc") == nil)
        #expect([UInt8](hex: "zz") == nil)
    }

    @Test func base64URLDropsPaddingAndSwapsAlphabet() {
        #expect(Base64URL.encode(Array("https://sts.amazonaws.com/?".utf8)) == "aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
    }

    @Test func suggestionsFindTyposOnly() {
        #expect(Suggestion.closest(to: "acount", in: ["account", "region"]) == "account")
        #expect(Suggestion.closest(to: "rgeion", in: ["account", "region"]) == "region")
        #expect(Suggestion.closest(to: "colour", in: ["account", "region"]) == nil)
        #expect(Suggestion.editDistance("kitten", "sitting") == 3)
    }

    @Test func durationsParseAndFormatLikeGo() {
        #expect(DurationText.parse("1m0s") == .seconds(60))
        #expect(DurationText.parse("1h30m") == .seconds(5400))
        #expect(DurationText.parse("90d") == .seconds(90 * 86_400))
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("10") == nil)
        #expect(DurationText.parse("10x") == nil)
        #expect(DurationText.format(.seconds(60)) == "1m0s")
        #expect(DurationText.format(.seconds(600)) == "10m0s")
        #expect(DurationText.format(.seconds(3600)) == "1h0m0s")
        #expect(DurationText.format(.seconds(45)) == "45s")
    }

    @Test func secretsAreRedactedEverywhere() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect(secret.reveal() == "hunter2")
    }
}
