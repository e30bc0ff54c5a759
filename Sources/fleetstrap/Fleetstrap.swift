// The fleetstrap executable: parses the command line and hands over to the libraries.
import ArgumentParser
import FleetSupport
import Foundation
import Ledger

@main
struct Fleetstrap: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "fleetstrap",
        abstract: "Bootstrap, rotate and audit Flux across fleets of EKS clusters backed by AWS CodeCommit.",
        discussion: """
            fleetstrap reads an inventory of accounts, CodeCommit repositories, SSH identities and clusters
            (apiVersion: fleetstrap.io/v1) and works on the whole fleet at once.

            Exit codes: 0 success, 1 some clusters failed or findings at --fail-on, 2 invalid input,
            3 could not start (credentials, ledger, the fleet state held by another run) or the ledger refused a
            write, 130 interrupted.
            """,
        version: version,
        subcommands: [
            ValidateCommand.self, BootstrapCommand.self, PlanCommand.self, RotateCommand.self, AuditCommand.self,
            ReportCommand.self, RunsCommand.self, ShowCommand.self, EKSTokenCommand.self,
            GitCredentialCommand.self,
        ])
}

extension Fleetstrap {
    /// Prints a CommandFailure as `error: …` and exits with its code; everything else as argument-parser does.
    static func main() async {
        OpenFileLimit.raise()
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            var stderr = StandardError()
            print(failure.message, to: &stderr)
            exit(withError: failure.exitCode)
        } catch let error where LedgerWriteError.from(error, path: "") != nil {
            // The ledger refused a write outside any cluster (the run's first or last record): it cannot go on here.
            let storage = LedgerWriteError.from(error, path: "")!
            var stderr = StandardError()
            let what = storage.isFull ? "its disk is full" : storage.detail
            print("error: the ledger refused a write: \(what)\n    hint: \(storage.hint ?? "")", to: &stderr)
            exit(withError: ExitStatus.couldNotStart)
        } catch  where exitCode(for: error) == .validationFailure {
            // A bad option or argument is invalid input like any other: exit 2, with argument-parser's message.
            var stderr = StandardError()
            print(fullMessage(for: error), to: &stderr)
            exit(withError: ExitStatus.invalidInput)
        } catch {
            exit(withError: error)
        }
    }
}
