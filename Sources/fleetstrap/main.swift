// The fleetstrap executable: the command line in FleetstrapCommands, with the process's own limits.
import FleetSupport
import FleetstrapCommands
import Foundation

OpenFileLimit.raise()
exit(await FleetstrapCommandLine.run(Array(CommandLine.arguments.dropFirst())))
