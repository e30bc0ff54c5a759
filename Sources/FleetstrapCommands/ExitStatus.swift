// The exit codes fleetstrap documents, in one place.
import ArgumentParser

enum ExitStatus {
    static let success = ExitCode(0)
    static let someFailed = ExitCode(1)
    static let invalidInput = ExitCode(2)
    static let couldNotStart = ExitCode(3)
    static let interrupted = ExitCode(130)
}
