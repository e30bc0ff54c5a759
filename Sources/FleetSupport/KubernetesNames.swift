// The shapes Kubernetes accepts for names and labels, checked byte by byte (a Regex literal is compiled again on each
// evaluation), and the byte classes those checks and the inventory's are made of. Inventory and the lab share them.

/// Kubernetes names and labels.
package enum KubernetesNames {
    /// A DNS-1123 label, what a Secret or namespace name may be: `[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?`.
    package static func isDNSLabel(_ s: String) -> Bool {
        ASCII.isHyphenatedLabel(s.utf8, 1...63, ASCII.isLowerAlphanumeric)
    }

    /// A label key: an optional DNS-subdomain prefix (at most 253 characters of
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`) and `/`, then a name of up to 63 characters.
    package static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last else { return false }
        if parts.count == 2 {
            guard parts[0].utf8.count <= 253,
                parts[0].utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy({
                    ASCII.isHyphenatedLabel($0, 1...Int.max, ASCII.isLowerAlphanumeric)
                })
            else { return false }
        }
        return isLabelValue(String(name)) && !name.isEmpty
    }

    /// A label value: empty, or `[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?`.
    package static func isLabelValue(_ s: String) -> Bool {
        let bytes = s.utf8
        guard let first = bytes.first, let last = bytes.last else { return true }
        return ASCII.all(bytes, 1...63) { ASCII.isWord($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            && ASCII.isAlphanumeric(first) && ASCII.isAlphanumeric(last)
    }
}

/// Byte classes for the checks above.
package enum ASCII {
    package static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    package static func isLower(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) }
    package static func isUpper(_ b: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) }
    package static func isAlphanumeric(_ b: UInt8) -> Bool { isDigit(b) || isLower(b) || isUpper(b) }
    package static func isLowerAlphanumeric(_ b: UInt8) -> Bool { isDigit(b) || isLower(b) }
    package static func isHexDigit(_ b: UInt8) -> Bool {
        isDigit(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(b)
    }
    /// `\w` as AWS's patterns mean it: `[A-Za-z0-9_]`.
    package static func isWord(_ b: UInt8) -> Bool { isAlphanumeric(b) || b == UInt8(ascii: "_") }

    /// Whether `text` has a length in `lengths` and every byte is `allowed`.
    package static func all(_ text: some StringProtocol, _ lengths: ClosedRange<Int>, _ allowed: (UInt8) -> Bool)
        -> Bool
    {
        all(text.utf8, lengths, allowed)
    }

    package static func all<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, _ lengths: ClosedRange<Int>, _ allowed: (UInt8) -> Bool
    )
        -> Bool
    {
        lengths.contains(bytes.count) && bytes.allSatisfy(allowed)
    }

    /// A label in DNS's sense: a length in `lengths`, bytes that are `end` or `-`, and `end` bytes at both ends.
    package static func isHyphenatedLabel<Bytes: BidirectionalCollection<UInt8>>(
        _ bytes: Bytes, _ lengths: ClosedRange<Int>, _ end: (UInt8) -> Bool
    ) -> Bool {
        guard let first = bytes.first, let last = bytes.last, end(first), end(last) else { return false }
        return all(bytes, lengths) { end($0) || $0 == UInt8(ascii: "-") }
    }
}
