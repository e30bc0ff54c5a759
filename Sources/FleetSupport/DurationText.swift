// Durations as Go and Kubernetes write them (`1m0s`, `90s`, `1h30m`), plus days (`90d`) for key ages.

public enum DurationText {
    /// Parses a positive duration such as `10m`, `1h30m`, `45s`, `500ms`, `90d`. Nil when malformed.
    public static func parse(_ text: String) -> Duration? {
        guard !text.isEmpty else { return nil }
        var total = Duration.zero
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
            guard !digits.isEmpty, let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix(while: { $0.isASCII && $0.isLetter })
            guard !unit.isEmpty else { return nil }
            rest = rest.dropFirst(unit.count)
            let seconds: Double
            switch unit {
            case "ms": seconds = value / 1000
            case "s": seconds = value
            case "m": seconds = value * 60
            case "h": seconds = value * 3600
            case "d": seconds = value * 86_400
            default: return nil
            }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return total
    }

    /// Formats as Go's `time.Duration.String()` does for whole seconds: `1m0s`, `10m0s`, `1h0m0s`, `45s`.
    public static func format(_ duration: Duration) -> String {
        let total = Int(duration.components.seconds)
        let h = total / 3600
        let m = (total % 3600) / 60
        let s = total % 60
        if h > 0 { return "\(h)h\(m)m\(s)s" }
        if m > 0 { return "\(m)m\(s)s" }
        return "\(s)s"
    }

    /// An age as people say it: `90d`, `3d4h`, `5h12m`, `40s`.
    public static func age(seconds: Double) -> String {
        let total = max(0, Int(seconds))
        let d = total / 86_400
        let h = (total % 86_400) / 3600
        let m = (total % 3600) / 60
        if d > 0 { return h > 0 ? "\(d)d\(h)h" : "\(d)d" }
        if h > 0 { return m > 0 ? "\(h)h\(m)m" : "\(h)h" }
        if m > 0 { return "\(m)m" }
        return "\(total)s"
    }
}
