// IAM's input rules for the actions the lab serves, as botocore's iam service model (2010-05-08) states them:
// required members, lengths, patterns and enums, refused with IAM's own ValidationError wording
// ("1 validation error detected: Value 'x' at 'sSHPublicKeyId' failed to satisfy constraint: …").
import Foundation

enum IAMInputModel {
    struct Member {
        let name: String
        var required = true
        var pattern: String?
        var length: ClosedRange<Int>?
        var values: [String]?
    }

    static let userName = Member(name: "UserName", pattern: #"[\w+=,.@-]+"#, length: 1...64)
    static let keyID = Member(name: "SSHPublicKeyId", pattern: #"[\w]+"#, length: 20...128)
    static let status = Member(name: "Status", values: ["Active", "Inactive"])
    static let credentialID = Member(name: "ServiceSpecificCredentialId", pattern: #"[\w]+"#, length: 20...128)

    /// The members of each action the lab serves.
    static let actions: [String: [Member]] = [
        "UploadSSHPublicKey": [
            userName,
            Member(name: "SSHPublicKeyBody", pattern: #"[\u0009\u000A\u000D\u0020-\u00FF]+"#, length: 1...16384),
        ],
        "ListSSHPublicKeys": [
            Member(name: "UserName", required: false, pattern: #"[\w+=,.@-]+"#, length: 1...64),
            Member(name: "Marker", required: false, pattern: #"[\u0020-\u00FF]+"#, length: 1...320),
            Member(name: "MaxItems", required: false, pattern: "[0-9]+", length: 1...4),
        ],
        "GetSSHPublicKey": [userName, keyID, Member(name: "Encoding", values: ["SSH", "PEM"])],
        "UpdateSSHPublicKey": [userName, keyID, status],
        "DeleteSSHPublicKey": [userName, keyID],
        "CreateServiceSpecificCredential": [userName, Member(name: "ServiceName")],
        "ListServiceSpecificCredentials": [
            Member(name: "UserName", required: false, pattern: #"[\w+=,.@-]+"#, length: 1...64),
            Member(name: "ServiceName", required: false),
        ],
        "UpdateServiceSpecificCredential": [
            Member(name: "UserName", required: false, pattern: #"[\w+=,.@-]+"#, length: 1...64), credentialID, status,
        ],
        "DeleteServiceSpecificCredential": [
            Member(name: "UserName", required: false, pattern: #"[\w+=,.@-]+"#, length: 1...64), credentialID,
        ],
    ]

    /// The refusal IAM answers `parameters` with, or nil when the action is known and its input valid.
    static func refusal(_ parameters: [String: String]) -> LabError? {
        let action = parameters["Action"] ?? ""
        guard let members = actions[action] else {
            return LabError(
                code: "InvalidAction", message: "Could not find operation \(action) for version 2010-05-08",
                status: 400)
        }
        var problems: [String] = []
        for member in members {
            let at = member.name.prefix(1).lowercased() + member.name.dropFirst()
            guard let value = parameters[member.name] else {
                if member.required {
                    problems.append("Value null at '\(at)' failed to satisfy constraint: Member must not be null")
                }
                continue
            }
            if let length = member.length, !length.contains(value.count) {
                let bound =
                    value.count < length.lowerBound
                    ? "greater than or equal to \(length.lowerBound)" : "less than or equal to \(length.upperBound)"
                problems.append(
                    "Value '\(value)' at '\(at)' failed to satisfy constraint: Member must have length \(bound)")
            } else if let pattern = member.pattern, value.wholeMatch(of: try! Regex(pattern)) == nil {
                problems.append(
                    "Value '\(value)' at '\(at)' failed to satisfy constraint: Member must satisfy regular expression "
                        + "pattern: \(pattern)")
            } else if let values = member.values, !values.contains(value) {
                problems.append(
                    "Value '\(value)' at '\(at)' failed to satisfy constraint: Member must satisfy enum value set: "
                        + "[\(values.joined(separator: ", "))]")
            }
        }
        guard !problems.isEmpty else { return nil }
        let count = problems.count == 1 ? "1 validation error" : "\(problems.count) validation errors"
        return LabError(
            code: "ValidationError", message: "\(count) detected: \(problems.joined(separator: "; "))", status: 400)
    }
}
