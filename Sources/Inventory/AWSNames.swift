// The shapes AWS and Kubernetes accept for the names an inventory holds: account ids, regions, ARNs, IAM, EKS and
// CodeCommit names, host names, label keys and values. Checked byte by byte: an inventory holds thousands of these,
// and a Swift Regex literal is parsed and compiled again each time it is evaluated (it cannot be kept in a static:
// `Regex` is not Sendable); validating 10,000 clusters spent more than half its time there. Each check below says the
// pattern it implements, and `NameShapeTests` holds it to that pattern. The characters are ASCII, as AWS's `\w` is.
import FleetSupport

enum AWSNames {
    static func isAccountID(_ s: String) -> Bool {
        s.utf8.count == 12 && s.utf8.allSatisfy(ASCII.isDigit)
    }

    static let partitions = ["aws", "aws-cn", "aws-us-gov"]
    private static let regionPrefixes: Set<Substring> = ["af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us"]
    private static let regionQualifiers: Set<Substring> = ["gov", "iso", "isob"]
    private static let regionDirections: Set<Substring> = [
        "central", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest",
    ]

    /// Region codes such as `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`:
    /// `(af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?-(central|…|southwest)-[1-9][0-9]?`.
    static func isRegion(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4, regionPrefixes.contains(parts[0]),
            parts.count == 3 || regionQualifiers.contains(parts[1]), regionDirections.contains(parts[parts.count - 2])
        else { return false }
        let number = parts[parts.count - 1].utf8
        return (1...2).contains(number.count) && number.allSatisfy(ASCII.isDigit) && number.first != UInt8(ascii: "0")
    }

    /// An IAM role ARN, `arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}`, whose last path
    /// segment (the role name) is 1 to 64 characters. Returns the account id.
    static func roleARNAccount(_ s: String) -> String? {
        let fields = s.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn", partitions.contains(String(fields[1])), fields[2] == "iam",
            fields[3].isEmpty,
            isAccountID(String(fields[4])), fields[5].hasPrefix("role/")
        else { return nil }
        let path = fields[5].dropFirst("role/".count)
        guard ASCII.all(path, 1...512, { ASCII.isWord($0) || "+=,.@/-".utf8.contains($0) }) else { return nil }
        let name = path.split(separator: "/").last ?? ""
        guard !name.isEmpty, name.count <= 64, !path.hasSuffix("/") else { return nil }
        return String(fields[4])
    }

    /// A KMS key or alias ARN:
    /// `arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-fA-F-]{1,64}|alias/[\w/-]{1,250})`.
    static func isKMSKeyARN(_ s: String) -> Bool {
        let fields = s.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn", partitions.contains(String(fields[1])), fields[2] == "kms",
            ASCII.all(fields[3], 1...Int.max, { ASCII.isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }),
            isAccountID(String(fields[4]))
        else { return false }
        let resource = fields[5]
        if resource.hasPrefix("key/") {
            return ASCII.all(resource.dropFirst(4), 1...64) { ASCII.isHexDigit($0) || $0 == UInt8(ascii: "-") }
        }
        if resource.hasPrefix("alias/") {
            return ASCII.all(resource.dropFirst(6), 1...250) {
                ASCII.isWord($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "-")
            }
        }
        return false
    }

    /// IAM user names: `[\w+=,.@-]{1,64}`.
    static func isIAMUserName(_ s: String) -> Bool {
        ASCII.all(s, 1...64, isIAMNameCharacter)
    }

    /// STS RoleSessionName: `[\w+=,.@-]{2,64}`.
    static func isRoleSessionName(_ s: String) -> Bool {
        ASCII.all(s, 2...64, isIAMNameCharacter)
    }

    /// STS ExternalId: `[\w+=,.@:/-]{2,1224}`.
    static func isExternalID(_ s: String) -> Bool {
        ASCII.all(s, 2...1224) { isIAMNameCharacter($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") }
    }

    private static func isIAMNameCharacter(_ b: UInt8) -> Bool {
        ASCII.isWord(b) || "+=,.@-".utf8.contains(b)
    }

    /// EKS cluster names: `[0-9A-Za-z][A-Za-z0-9_-]{0,99}`.
    static func isEKSClusterName(_ s: String) -> Bool {
        ASCII.all(s, 1...100) { ASCII.isWord($0) || $0 == UInt8(ascii: "-") }
            && s.utf8.first.map(ASCII.isAlphanumeric) == true
    }

    /// CodeCommit repository names: `[\w.-]{1,100}`, not ending in `.git`.
    static func isCodeCommitRepositoryName(_ s: String) -> Bool {
        ASCII.all(s, 1...100) { ASCII.isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
            && !s.hasSuffix(".git")
    }

    /// An SSHPublicKeyId: `APKA[A-Z0-9]{16,124}`.
    static func isSSHKeyID(_ s: String) -> Bool {
        s.hasPrefix("APKA") && ASCII.all(s.utf8.dropFirst(4), 16...124) { ASCII.isDigit($0) || ASCII.isUpper($0) }
    }

    /// A DNS host name or an IPv4 address, at most 253 characters: dot-separated labels of 1 to 63 letters, digits
    /// and `-`, a letter or digit at each end.
    static func isHost(_ s: String) -> Bool {
        s.utf8.count <= 253
            && s.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy {
                ASCII.isHyphenatedLabel($0, 1...63, ASCII.isAlphanumeric)
            }
    }
}
