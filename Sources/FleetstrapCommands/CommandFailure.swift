// How a command ends in failure: a message on stderr and the documented exit code.
import AWS
import ArgumentParser
import FleetSupport

enum CommandFailure: Error, CustomStringConvertible {
    case invalidInput(String)
    case couldNotStart(String)
    /// Diagnostics that already read `file:line:column: error: …`, printed as they are.
    case invalidInventory(String)

    var description: String {
        switch self {
        case .invalidInput(let m), .couldNotStart(let m), .invalidInventory(let m): m
        }
    }

    /// What goes to standard error.
    var message: String {
        switch self {
        case .invalidInventory(let m): m
        default: "error: \(description)"
        }
    }

    var exitCode: ExitCode {
        switch self {
        case .invalidInput, .invalidInventory: ExitStatus.invalidInput
        case .couldNotStart: ExitStatus.couldNotStart
        }
    }
}

/// An error as a person reads it: the message, then the hint when there is one.
func describe(_ error: any Error) -> String {
    if let fleet = error as? any FleetError {
        return fleet.description + (fleet.hint.map { "\n    hint: \($0)" } ?? "")
    }
    return "\(error)"
}
