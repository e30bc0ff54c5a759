// A small valid inventory and a way to break one line of it at a time.
import Inventory
import Testing

enum Fixture {
    /// Valid as it stands; line numbers are referred to by the tests.
    static let lines = [
        "apiVersion: fleetstrap.io/v1",  // 1
        "kind: Fleet",  // 2
        "defaults:",  // 3
        "  account: main",  // 4
        "  repository: fleet",  // 5
        "  flux:",  // 6
        "    version: 2.4.0",  // 7
        "accounts:",  // 8
        "  - name: main",  // 9
        "    id: \"123456789012\"",  // 10
        "    roleArn: arn:aws:iam::123456789012:role/fleetstrap",  // 11
        "    region: eu-west-1",  // 12
        "repositories:",  // 13
        "  - name: fleet",  // 14
        "    codecommit: fleet",  // 15
        "    identity: flux",  // 16
        "identities:",  // 17
        "  - name: flux",  // 18
        "    account: main",  // 19
        "    passphrase: {env: PASS}",  // 20
        "clusters:",  // 21
        "  - name: one",  // 22
    ]

    /// The fixture with lines replaced (1-based; a replacement may hold several lines) and lines appended.
    static func yaml(replacing changes: [Int: String] = [:], appending extra: [String] = []) -> String {
        var out = lines
        for (line, text) in changes { out[line - 1] = text }
        return (out + extra).joined(separator: "\n") + "\n"
    }

    static func validate(replacing changes: [Int: String] = [:], appending extra: [String] = []) -> ValidationResult {
        InventoryLoader.validate(yaml: yaml(replacing: changes, appending: extra), name: "fleet.yaml")
    }
}

/// Asserts the result holds exactly one error and that it reads `expected` (`line:column: message`).
func expectSingleError(
    _ result: ValidationResult, _ expected: String, rule: String, hint: String? = nil,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    let errors = result.errors
    #expect(errors.count == 1, "errors: \(errors.map(\.description))", sourceLocation: sourceLocation)
    guard let error = errors.first else { return }
    #expect(
        "\(error.location.line):\(error.location.column): \(error.message)" == expected,
        sourceLocation: sourceLocation)
    #expect(error.rule == rule, sourceLocation: sourceLocation)
    if let hint { #expect(error.hint == hint, sourceLocation: sourceLocation) }
    #expect(result.inventory == nil, sourceLocation: sourceLocation)
}
