import Foundation
import TestSupport
import Testing

// The lab's children (git, git http-backend, ssh-keygen, sshd) inherit none of the lab's descriptors: a child that
// held the lab's listening socket kept connections queued after the lab had stopped, and a test run hung for good.
@testable import FleetLab

@Suite("Lab: child processes")
struct LabProcessTests {
    @Test func aChildInheritsOnlyItsStandardStreams() async throws {
        // A listening socket as NIO makes them here: not close-on-exec.
        let silent = try SilentListener(backlog: 4)
        defer { withExtendedLifetime(silent) {} }
        let listener = silent.descriptor
        #expect(fcntl(listener, F_GETFD) & FD_CLOEXEC == 0, "the test needs a descriptor that exec keeps")

        // The shell lists its own descriptors ($$), not those of the ls it runs.
        let output = try await LabProcess.run("/bin/sh", ["-c", "ls /proc/$$/fd"])
        #expect(output.status == 0, "\(output.stderr)")
        let descriptors = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(descriptors.contains(0) && descriptors.contains(1) && descriptors.contains(2), "\(descriptors)")
        #expect(
            !descriptors.contains(listener),
            "the child holds the lab's listening socket (descriptor \(listener)): \(descriptors)")
        #expect(
            descriptors.allSatisfy { $0 <= 2 },
            "the child holds descriptors beyond its standard streams: \(descriptors)")
    }
}
