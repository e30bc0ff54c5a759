// The name checks of `AWSNames` and `KubernetesNames` scan bytes; each documents the pattern it implements. These
// tests hold them to those patterns, written here as the Regex literals they replaced: the same answer for every
// ASCII string generated (valid names, their one-byte mutations, random strings of the characters that matter),
// and no non-ASCII name accepted (AWS's `\w` is ASCII; a Swift Regex `\w` is not).
import FleetSupport
import TestSupport
import Testing

@testable import Inventory

@Suite("Name shapes")
struct NameShapeTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let name: String
        let check: @Sendable (String) -> Bool
        let pattern: @Sendable (String) -> Bool
        let valid: [String]
        var testDescription: String { name }
    }

    static let shapes: [Shape] = [
        Shape(
            name: "account id", check: AWSNames.isAccountID, pattern: { $0.wholeMatch(of: /[0-9]{12}/) != nil },
            valid: ["123456789012"]),
        Shape(
            name: "region", check: AWSNames.isRegion,
            pattern: {
                $0.wholeMatch(
                    of:
                        #/
                        (af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?
                        -(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?
                        /#
                ) != nil
            },
            valid: ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-3", "us-isob-east-1", "me-central-12"]),
        Shape(
            name: "role ARN", check: { AWSNames.roleARNAccount($0) != nil },
            pattern: {
                guard
                    let m = $0.wholeMatch(
                        of: /arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role\/([\w+=,.@\/-]{1,512})/)
                else { return false }
                let name = m.3.split(separator: "/").last ?? ""
                return !name.isEmpty && name.count <= 64 && !m.3.hasSuffix("/")
            },
            valid: [
                "arn:aws:iam::123456789012:role/fleetstrap",
                "arn:aws-us-gov:iam::123456789012:role/path/to/a+b=c,d.e@f_g-h",
            ]),
        Shape(
            name: "KMS key ARN", check: AWSNames.isKMSKeyARN,
            pattern: {
                $0.wholeMatch(
                    of:
                        #/
                        arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:[0-9]{12}:
                        (key\/[0-9a-fA-F-]{1,64}|alias\/[\w\/-]{1,250})
                        /#
                ) != nil
            },
            valid: [
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws-cn:kms:cn-north-1:123456789012:alias/a/b_c-d",
            ]),
        Shape(
            name: "IAM user name", check: AWSNames.isIAMUserName,
            pattern: { $0.wholeMatch(of: /[\w+=,.@-]{1,64}/) != nil }, valid: ["flux", "a+b=c,d.e@f_g-h"]),
        Shape(
            name: "role session name", check: AWSNames.isRoleSessionName,
            pattern: { $0.wholeMatch(of: /[\w+=,.@-]{2,64}/) != nil }, valid: ["fleetstrap", "ab"]),
        Shape(
            name: "external id", check: AWSNames.isExternalID,
            pattern: { $0.wholeMatch(of: /[\w+=,.@:\/-]{2,1224}/) != nil }, valid: ["urn:x/y", "ab"]),
        Shape(
            name: "EKS cluster name", check: AWSNames.isEKSClusterName,
            pattern: { $0.wholeMatch(of: /[0-9A-Za-z][A-Za-z0-9_-]{0,99}/) != nil },
            valid: ["prod-eu-1", "a", "9_x-Y"]),
        Shape(
            name: "CodeCommit repository name", check: AWSNames.isCodeCommitRepositoryName,
            pattern: { $0.wholeMatch(of: /[\w.-]{1,100}/) != nil && !$0.hasSuffix(".git") },
            valid: ["fleet", "a.b_c-d", ".git.x"]),
        Shape(
            name: "SSH key id", check: AWSNames.isSSHKeyID,
            pattern: { $0.wholeMatch(of: /APKA[A-Z0-9]{16,124}/) != nil }, valid: ["APKAEIBAERJR2EXAMPLE"]),
        Shape(
            name: "host", check: AWSNames.isHost,
            pattern: {
                $0.wholeMatch(
                    of: /[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*/)
                    != nil && $0.utf8.count <= 253
            },
            valid: ["git-codecommit.eu-west-1.amazonaws.com", "127.0.0.1", "a"]),
        Shape(
            name: "DNS label", check: KubernetesNames.isDNSLabel,
            pattern: { $0.wholeMatch(of: /[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/) != nil },
            valid: ["flux-system", "a", "0-0"]),
        Shape(
            name: "label key", check: KubernetesNames.isLabelKey,
            pattern: {
                let parts = $0.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count <= 2, let name = parts.last, !name.isEmpty else { return false }
                if parts.count == 2 {
                    guard parts[0].count <= 253,
                        parts[0].wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)
                            != nil
                    else { return false }
                }
                return name.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?/) != nil
            },
            valid: ["env", "fleetstrap.io/tier", "app.kubernetes.io/part-of", "a.b-c/D_e.f"]),
        Shape(
            name: "label value", check: KubernetesNames.isLabelValue,
            pattern: { $0.isEmpty || $0.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?/) != nil },
            valid: ["", "prod", "a_b.c-D"]),
    ]

    /// The bytes that matter to some pattern, and a few that matter to none.
    static let alphabet = Array("aAzZ09_-.:/@+=,~ $%".utf8)

    /// Valid names, every one-byte mutation of each (removed, replaced, doubled), lengths at each bound, random
    /// strings.
    static func candidates(_ shape: Shape, using generator: inout SplitMix64) -> [String] {
        var out = shape.valid
        for valid in shape.valid {
            let bytes = Array(valid.utf8)
            for i in bytes.indices {
                var removed = bytes
                removed.remove(at: i)
                out.append(String(decoding: removed, as: UTF8.self))
                var doubled = bytes
                doubled.insert(bytes[i], at: i)
                out.append(String(decoding: doubled, as: UTF8.self))
                for b in alphabet {
                    var replaced = bytes
                    replaced[i] = b
                    out.append(String(decoding: replaced, as: UTF8.self))
                }
            }
            for n in [
                1, 2, 16, 60, 61, 62, 63, 64, 65, 99, 100, 101, 124, 125, 250, 251, 252, 253, 254, 512, 513, 1224, 1225,
            ] {
                out.append(valid + String(repeating: "a", count: n))
                out.append(String(repeating: "a", count: n))
                out.append(String(repeating: "a", count: n) + "." + String(repeating: "b", count: max(1, 253 - n)))
            }
        }
        for _ in 0..<2_000 {
            let length = Int.random(in: 0...12, using: &generator)
            out.append(
                String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self))
        }
        return out
    }

    @Test("each check answers as its pattern does", arguments: shapes)
    func checkMatchesPattern(_ shape: Shape) {
        var generator = SplitMix64(seed: 2026)
        for valid in shape.valid { #expect(shape.check(valid), "\(shape.name): '\(valid)' should be valid") }
        var differences: [String] = []
        for candidate in Self.candidates(shape, using: &generator)
        where shape.check(candidate) != shape.pattern(candidate) {
            differences.append(candidate)
        }
        #expect(differences.isEmpty, "\(shape.name): \(differences.count) differences, first: \(differences.prefix(5))")
    }

    @Test("no name with a byte beyond ASCII is accepted", arguments: shapes)
    func nonASCIIIsRefused(_ shape: Shape) {
        for valid in shape.valid where !valid.isEmpty {
            for intruder in ["é", "e\u{301}", "٣", "\u{FF21}", "\u{0}"] {
                let name = String(valid.dropLast()) + intruder
                #expect(!shape.check(name), "\(shape.name): '\(name)' should be refused")
            }
        }
    }
}
