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
        return
            """
            \(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\
            \(String(c[13..<15]))Z
            """
    }

    /// Parses ISO 8601 with any fractional precision and `Z` or an offset (STS, IMDS, credential_process):
    /// `yyyy-MM-dd[T ]HH:mm:ss[.fff][Z|±HH[:]MM]`. A scanner, not a Regex: the lab checks a token's date on every
    /// Kubernetes request, and a Regex literal is compiled again on each call.
    public static func parseISO8601(_ text: String) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        scanner.skipSpaces()
        guard let year = scanner.number(4), scanner.take("-"), let month = scanner.number(2), scanner.take("-"),
            let day = scanner.number(2),
            scanner.take("T") || scanner.take(" "), let hour = scanner.number(2), scanner.take(":"),
            let minute = scanner.number(2),
            scanner.take(":"), let second = scanner.number(2)
        else { return nil }
        var fraction = 0.0
        if scanner.take(".") {
            var scale = 0.1
            var digits = 0
            while let digit = scanner.number(1) {
                fraction += Double(digit) * scale
                scale /= 10
                digits += 1
            }
            guard digits > 0 else { return nil }
        }
        var offset = 0.0
        if scanner.take("Z") {
        } else if let sign = scanner.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            scanner.index += 1
            guard let hours = scanner.number(2) else { return nil }
            _ = scanner.take(":")
            guard let minutes = scanner.number(2) else { return nil }
            offset = Double(hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        scanner.skipSpaces()
        guard scanner.atEnd else { return nil }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second).map {
            Date(timeIntervalSince1970: $0 + fraction - offset)
        }
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'` (X-Amz-Date); nil when malformed.
    public static func parseAmzDate(_ text: String) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        guard let year = scanner.number(4), let month = scanner.number(2), let day = scanner.number(2),
            scanner.take("T"),
            let hour = scanner.number(2), let minute = scanner.number(2), let second = scanner.number(2),
            scanner.take("Z"), scanner.atEnd
        else { return nil }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second).map {
            Date(timeIntervalSince1970: $0)
        }
    }

    /// Seconds since 1970 of a UTC date and time, as timegm counts them.
    private static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Double? {
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Double(timegm(&parts))
    }
}

/// Fixed-width decimal fields and single characters, in order.
private struct DigitScanner {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func number(_ width: Int) -> Int? {
        guard index + width <= bytes.count else { return nil }
        var value = 0
        for offset in 0..<width {
            let byte = bytes[index + offset]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += width
        return value
    }

    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard peek == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    mutating func skipSpaces() { while peek == UInt8(ascii: " ") || peek == 0x09 { index += 1 } }
}
