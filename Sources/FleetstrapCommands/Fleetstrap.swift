// The command line: fleetstrap's commands, and `FleetstrapCommandLine.run`, which parses arguments, runs a command
// and answers its exit status. The executable is a call to it; the command tests call it in-process too.
import ArgumentParser
import FleetSupport
import Foundation
import Ledger

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

public enum FleetstrapCommandLine {
    /// Runs the command `arguments` name (without the program name); answers the exit status. Errors are printed
    /// as `error: …` with their hint on standard error, help and the version on standard output.
    public static func run(_ arguments: [String]) async -> Int32 {
        var stderr = StandardError()
        do {
            var command = try Fleetstrap.parseAsRoot(arguments)
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            return 0
        } catch let failure as CommandFailure {
            print(failure.message, to: &stderr)
            return failure.exitCode.rawValue
        } catch let error where LedgerWriteError.from(error, path: "") != nil {
            // The ledger refused a write outside any cluster (the run's first or last record): it cannot go on here.
            let storage = LedgerWriteError.from(error, path: "")!
            let what = storage.isFull ? "its disk is full" : storage.detail
            print("error: the ledger refused a write: \(what)\n    hint: \(storage.hint ?? "")", to: &stderr)
            return ExitStatus.couldNotStart.rawValue
        } catch {
            let code = Fleetstrap.exitCode(for: error)
            let message = Fleetstrap.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                return 0
            }
            if !message.isEmpty { print(message, to: &stderr) }
            // A bad option or argument is invalid input like any other: exit 2, with argument-parser's message.
            return code == .validationFailure ? ExitStatus.invalidInput.rawValue : code.rawValue
        }
    }
}
