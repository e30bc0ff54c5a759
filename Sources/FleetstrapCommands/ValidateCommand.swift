// `fleetstrap validate`: every problem of an inventory in one pass, or a summary of the fleet it describes.
import ArgumentParser
import FleetSupport
import Foundation
import Inventory

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check an inventory and report every problem with its file, line and column.",
        discussion: "Exits 0 when the inventory is valid (warnings allowed) and 2 when it has errors.")

    @Option(name: [.short, .customLong("file")], help: "The inventory file.")
    var file: String = "fleetstrap.yaml"

    @Option(
        name: [.customShort("l"), .customLong("selector")],
        help: "Only count clusters whose labels match (kubectl syntax: env=prod,tier!=edge).")
    var selector: String?

    @Option(name: .shortAndLong, help: "text or json.")
    var output: OutputFormat = .text

    static let printLimit = InventoryError.printLimit

    func run() throws {
        let result = InventoryLoader.validate(path: file)
        var selection: [Cluster]?
        var selectorError: String?
        if let selector, let inventory = result.inventory {
            do {
                let parsed = try LabelSelector(selector)
                selection = inventory.clusters.filter { parsed.matches($0.labels) }
            } catch {
                selectorError = error.description
            }
        }
        switch output {
        case .text: printText(result, selection: selection, selectorError: selectorError)
        case .json: try printJSON(result, selection: selection, selectorError: selectorError)
        }
        if !result.isValid || selectorError != nil { throw ExitStatus.invalidInput }
    }

    private func printText(_ result: ValidationResult, selection: [Cluster]?, selectorError: String?) {
        var stderr = StandardError()
        for d in result.diagnostics.prefix(Self.printLimit) { print(d, to: &stderr) }
        if result.diagnostics.count > Self.printLimit {
            print("… and \(result.diagnostics.count - Self.printLimit) more", to: &stderr)
        }
        if let selectorError { print("error: \(selectorError)", to: &stderr) }
        let (e, w) = (result.errors.count, result.warnings.count)
        guard let inventory = result.inventory else {
            print("\(file): invalid: \(plural(e, "error"))\(w > 0 ? ", \(plural(w, "warning"))" : "")", to: &stderr)
            return
        }
        let summary = inventory.summary(of: selection)
        let name = inventory.name.map { " (\($0))" } ?? ""
        print("\(file)\(name): valid\(w > 0 ? " with \(plural(w, "warning"))" : "")")
        print(
            "  \(plural(summary.clusters, "cluster"))"
                + (selection != nil ? " selected by '\(selector!)' of \(inventory.clusters.count)" : "")
                + " in "
                + [
                    plural(inventory.accounts.count, "account"), plural(summary.regions.count, "region"),
                    plural(inventory.repositories.count, "repository", "repositories"),
                    plural(inventory.identities.count, "identity", "identities"),
                ].joined(separator: ", "))
        printTable("ACCOUNT", summary.accounts) { name in inventory.account(named: name)?.id ?? "" }
        printTable("REGION", summary.regions) { _ in "" }
        printTable("REPOSITORY", summary.repositories) { name in
            inventory.repository(named: name).map {
                "\($0.transport.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \($0.url())"
            } ?? ""
        }
    }

    private func printTable(_ title: String, _ counts: [String: Int], detail: (String) -> String) {
        guard !counts.isEmpty else { return }
        let width = max(title.count, counts.keys.map(\.count).max() ?? 0)
        print("")
        print("  \(title.padding(toLength: width, withPad: " ", startingAt: 0))  CLUSTERS")
        for (name, count) in counts.sorted(by: { $0.key < $1.key }) {
            let d = detail(name)
            print(
                "  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(String(count).leftPadded(8))"
                    + (d.isEmpty ? "" : "  \(d)"))
        }
    }

    private func printJSON(_ result: ValidationResult, selection: [Cluster]?, selectorError: String?) throws {
        struct Item: Encodable {
            let file: String, line: Int, column: Int, severity: String, rule: String, message: String
            let hint: String?
        }
        struct Document: Encodable {
            let apiVersion = "fleetstrap.io/v1"
            let kind = "ValidationResult"
            let file: String
            let valid: Bool
            let errors: Int
            let warnings: Int
            let diagnostics: [Item]
            let selectorError: String?
            let summary: InventorySummary?
        }
        let items = result.diagnostics.map {
            Item(
                file: $0.location.file, line: $0.location.line, column: $0.location.column,
                severity: $0.severity.rawValue, rule: $0.rule, message: $0.message, hint: $0.hint)
        }
        let document = Document(
            file: file, valid: result.isValid && selectorError == nil, errors: result.errors.count,
            warnings: result.warnings.count, diagnostics: items, selectorError: selectorError,
            summary: result.inventory?.summary(of: selection))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(document), as: UTF8.self))
    }
}

func plural(_ n: Int, _ singular: String, _ pluralForm: String? = nil) -> String {
    "\(n) \(n == 1 ? singular : pluralForm ?? singular + "s")"
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
