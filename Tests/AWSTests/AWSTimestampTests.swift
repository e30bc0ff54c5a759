import AWS
import Foundation
import SigV4
import Testing

@Suite struct AWSTimestampTests {
    @Test func readsTheFormsAWSWrites() throws {
        let base = try #require(AWSTimestamp.parseISO8601("2024-01-02T03:04:05Z")).timeIntervalSince1970
        #expect(base == 1_704_164_645)
        #expect(AWSTimestamp.parseISO8601(" 2024-01-02 03:04:05Z ")?.timeIntervalSince1970 == base)
        #expect(AWSTimestamp.parseISO8601("2024-01-02T03:04:05")?.timeIntervalSince1970 == base)
        #expect(AWSTimestamp.parseISO8601("2024-01-02T03:04:05.250Z")?.timeIntervalSince1970 == base + 0.25)
        #expect(AWSTimestamp.parseISO8601("2024-01-02T05:04:05+02:00")?.timeIntervalSince1970 == base)
        #expect(AWSTimestamp.parseISO8601("2024-01-02T01:34:05-0130")?.timeIntervalSince1970 == base)
        #expect(AWSTimestamp.parseAmzDate("20240102T030405Z")?.timeIntervalSince1970 == base)
        #expect(AWSTimestamp.amzDate(Date(timeIntervalSince1970: base)) == "20240102T030405Z")
        #expect(AWSTimestamp.iso8601(Date(timeIntervalSince1970: base)) == "2024-01-02T03:04:05Z")
    }

    @Test(arguments: [
        "", "2024-01-02", "2024-01-02T03:04", "2024-1-02T03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05Zx",
        "2024-01-02T03:04:05+2", "２０２４-01-02T03:04:05Z", "2024-01-02X03:04:05Z",
    ])
    func refusesMalformedISO8601(_ text: String) {
        #expect(AWSTimestamp.parseISO8601(text) == nil)
    }

    @Test(arguments: [
        "", "20240102T030405", "20240102 030405Z", "2024010T030405Z", "20240102T030405Z ", "20240102t030405z",
        "2024-01-02T03:04:05Z",
    ])
    func refusesMalformedAmzDate(_ text: String) {
        #expect(AWSTimestamp.parseAmzDate(text) == nil)
    }
}
