// Rollout sizes (`1`, `10%`) read, checked and written in one place, for the inventory's `rollout:` and the
// command line's --waves and --max-failures alike.

extension Rollout.Size: Codable {
    /// `5` or `12.5%`; nil for anything else (a percentage must be a finite number).
    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p.isFinite else { return nil }
            self = .percent(p)
        } else if let n = Int(text) {
            self = .count(n)
        } else {
            return nil
        }
    }

    /// A failure budget: a count of 0 or more, or a percentage from 0 to 100.
    public var isValidBudget: Bool {
        switch self {
        case .count(let n): n >= 0
        case .percent(let p): p >= 0 && p <= 100
        }
    }

    /// What is wrong with cumulative wave sizes, by index: counts grow among counts and percentages among
    /// percentages, counts from 1, percentages above 0 and at most 100.
    public static func waveProblems(_ sizes: [Self]) -> [(index: Int, problem: String)] {
        var problems: [(Int, String)] = []
        var lastCount: Int?
        var lastPercent: Double?
        for (index, size) in sizes.enumerated() {
            switch size {
            case .count(let n):
                if n < 1 || (lastCount.map { n <= $0 } ?? false) {
                    problems.append((index, "must be larger than the wave before it"))
                }
                lastCount = n
            case .percent(let p):
                if p <= 0 || p > 100 || (lastPercent.map { p <= $0 } ?? false) {
                    problems.append((index, "must be above 0% and at most 100%, and larger than the wave before it"))
                }
                lastPercent = p
            }
        }
        return problems
    }

    /// Written as it is read (`"10%"`, `"5"`), so a run's recorded options read as the user wrote them.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = Self(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a size: \(text)"))
        }
        self = size
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
