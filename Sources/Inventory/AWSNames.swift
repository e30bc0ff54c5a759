// The shapes AWS accepts for the names an inventory holds: account ids, regions, ARNs, IAM and EKS names.

enum AWSNames {
    static func isAccountID(_ s: String) -> Bool {
        s.utf8.count == 12 && s.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Region codes such as `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`.
    static func isRegion(_ s: String) -> Bool {
        s.wholeMatch(of: /(af|ap|ca|cn|eu|il|me|mx|sa|us)(-gov|-iso|-isob)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?/) != nil
    }

    static let partitions = ["aws", "aws-cn", "aws-us-gov"]

    /// An IAM role ARN: `arn:<partition>:iam::<account>:role/<optional path/>name`. Returns the account id.
    static func roleARNAccount(_ s: String) -> String? {
        guard let m = s.wholeMatch(of: /arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role\/([\w+=,.@\/-]{1,512})/)
        else { return nil }
        let name = m.3.split(separator: "/").last.map(String.init) ?? ""
        guard !name.isEmpty, name.count <= 64, !m.3.hasSuffix("/") else { return nil }
        return String(m.2)
    }

    /// A KMS key or alias ARN.
    static func isKMSKeyARN(_ s: String) -> Bool {
        s.wholeMatch(of: /arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:[0-9]{12}:(key\/[0-9a-fA-F-]{1,64}|alias\/[\w\/-]{1,250})/) != nil
    }

    /// IAM user names: up to 64 of `[A-Za-z0-9+=,.@_-]`.
    static func isIAMUserName(_ s: String) -> Bool {
        s.wholeMatch(of: /[\w+=,.@-]{1,64}/) != nil
    }

    /// STS RoleSessionName: 2 to 64 of `[\w+=,.@-]`.
    static func isRoleSessionName(_ s: String) -> Bool {
        s.wholeMatch(of: /[\w+=,.@-]{2,64}/) != nil
    }

    /// STS ExternalId: 2 to 1224 of `[\w+=,.@:\/-]`.
    static func isExternalID(_ s: String) -> Bool {
        s.wholeMatch(of: /[\w+=,.@:\/-]{2,1224}/) != nil
    }

    /// EKS cluster names: 1 to 100 characters, a letter or digit first, then letters, digits, `-` and `_`.
    static func isEKSClusterName(_ s: String) -> Bool {
        s.wholeMatch(of: /[0-9A-Za-z][A-Za-z0-9_-]{0,99}/) != nil
    }

    /// CodeCommit repository names: 1 to 100 of `[\w.-]`, not ending in `.git`.
    static func isCodeCommitRepositoryName(_ s: String) -> Bool {
        s.wholeMatch(of: /[\w.-]{1,100}/) != nil && !s.hasSuffix(".git")
    }

    /// An SSHPublicKeyId: `APKA` then upper-case letters and digits, 20 to 128 characters in all.
    static func isSSHKeyID(_ s: String) -> Bool {
        s.wholeMatch(of: /APKA[A-Z0-9]{16,124}/) != nil
    }

    /// A DNS host name or an IPv4 address.
    static func isHost(_ s: String) -> Bool {
        s.wholeMatch(of: /[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*/) != nil
            && s.utf8.count <= 253
    }
}

/// Kubernetes names and labels.
enum KubernetesNames {
    /// A DNS-1123 label: what a Secret or namespace name may be.
    static func isDNSLabel(_ s: String) -> Bool {
        s.wholeMatch(of: /[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/) != nil
    }

    /// A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
    static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last else { return false }
        if parts.count == 2 {
            guard parts[0].count <= 253,
                parts[0].wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) != nil
            else { return false }
        }
        return isLabelValue(String(name)) && !name.isEmpty
    }

    /// A label value: empty, or up to 63 alphanumerics with `-`, `_`, `.` inside.
    static func isLabelValue(_ s: String) -> Bool {
        s.isEmpty || s.wholeMatch(of: /[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?/) != nil
    }
}
