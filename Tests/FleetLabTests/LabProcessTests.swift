// The lab's children (git, git http-backend, ssh-keygen, sshd) inherit none of the lab's descriptors: a child that
// held the lab's listening socket kept connections queued after the lab had stopped, and a test run hung for good.
@testable import FleetLab
import Foundation
import Testing

@Suite("Lab: child processes")
struct LabProcessTests {
    @Test func aChildInheritsOnlyItsStandardStreams() async throws {
        // A listening socket as NIO makes them here: not close-on-exec.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(listener, 4) == 0)
        #expect(fcntl(listener, F_GETFD) & FD_CLOEXEC == 0, "the test needs a descriptor that exec keeps")

        // The shell lists its own descriptors ($$), not those of the ls it runs.
        let output = try await LabProcess.run("/bin/sh", ["-c", "ls /proc/$$/fd"])
        #expect(output.status == 0, "\(output.stderr)")
        let descriptors = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(descriptors.contains(0) && descriptors.contains(1) && descriptors.contains(2), "\(descriptors)")
        #expect(!descriptors.contains(listener), "the child holds the lab's listening socket (descriptor \(listener)): \(descriptors)")
        #expect(descriptors.allSatisfy { $0 <= 2 }, "the child holds descriptors beyond its standard streams: \(descriptors)")
    }
}
