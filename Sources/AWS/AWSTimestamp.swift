// The time formats AWS signs and parses: `20240102T030405Z` and ISO 8601.
import Foundation

public enum AWSTimestamp {
    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, without a formatter (it is on every request's hot path).
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// `yyyy-MM-dd'T'HH:mm:ss'Z'`, as ExecCredential's expirationTimestamp is written.
    public static func iso8601(_ date: Date) -> String {
        let a = amzDate(date)
        let c = Array(a)
        return "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\(String(c[13..<15]))Z"
    }

    /// Parses ISO 8601 with any fractional precision and `Z` or an offset (STS, IMDS, credential_process).
    public static func parseISO8601(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let m = trimmed.wholeMatch(
            of: /(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?/)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(m.1)! - 1900
        parts.tm_mon = Int32(m.2)! - 1
        parts.tm_mday = Int32(m.3)!
        parts.tm_hour = Int32(m.4)!
        parts.tm_min = Int32(m.5)!
        parts.tm_sec = Int32(m.6)!
        var seconds = Double(timegm(&parts))
        if let fraction = m.7 { seconds += Double("0" + fraction) ?? 0 }
        if let zone = m.8, zone != "Z" {
            let digits = zone.filter(\.isNumber)
            let hours = Double(digits.prefix(2))!, minutes = Double(digits.suffix(2))!
            let offset = (hours * 3600 + minutes * 60) * (zone.hasPrefix("-") ? -1 : 1)
            seconds -= offset
        }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'` (X-Amz-Date); nil when malformed.
    public static func parseAmzDate(_ text: String) -> Date? {
        guard let m = text.wholeMatch(of: /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/) else { return nil }
        return parseISO8601("\(m.1)-\(m.2)-\(m.3)T\(m.4):\(m.5):\(m.6)Z")
    }
}
