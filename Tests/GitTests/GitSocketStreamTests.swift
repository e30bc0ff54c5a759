// Git's connections go through fleetstrap's socket stream (libgit2 1.5's own has no TCP_NODELAY, no timeouts and no
// way to stop a read the server never answers): a silent server fails the operation after the idle timeout, a
// cancelled operation stops while it waits, and the transports really use the stream.
import CGitSocket
import FleetSupport
import Foundation
import Git
import TestSupport
import Testing

@Suite("Git: the socket stream")
struct GitSocketStreamTests {
    /// A TLS server whose every answer takes 5 s (`/slow`): Git's first request waits on it.
    func silentRemote(_ peer: PeerServer) -> GitRemote {
        GitRemote(
            url: "https://127.0.0.1:\(peer.port)/slow",
            authentication: .basic(username: "git", password: Secret("unused")),
            trust: GitTrust(caPEM: peer.certificatePEM))
    }

    /// The writer's local mirror, removed with the test.
    let scratch: TemporaryFolder

    init() throws { scratch = try TemporaryFolder("fleetstrap-mirror") }

    func mirror() -> String { scratch.file("mirror.git").path }

    @Test(.timeLimit(.minutes(1)))
    func aServerThatStopsAnsweringFailsTheOperationAfterTheIdleTimeout() async throws {
        let peer = try PeerServer(tls: true, arguments: ["--max-requests", "5"], lifetime: 30)
        defer { peer.stop() }
        let connections = fs_git_socket_connections()
        var options = RepositoryWriter.Options()
        options.idleTimeout = .milliseconds(500)
        let writer = try RepositoryWriter(remote: silentRemote(peer), localPath: mirror(), options: options)
        await #expect {
            _ = try await writer.submit(
                cluster: "a", directory: "clusters/a", changes: [.write("clusters/a/x", "x")], message: "m")
        } throws: { error in
            (error as? GitError)?.kind == .transport && "\(error)".contains("timed out: nothing in 0.5 s")
        }
        #expect(fs_git_socket_connections() > connections, "libgit2 connected through fleetstrap's stream")
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingStopsAnOperationWaitingOnASilentServer() async throws {
        let peer = try PeerServer(tls: true, arguments: ["--max-requests", "5"], lifetime: 30)
        defer { peer.stop() }
        let writer = try RepositoryWriter(remote: silentRemote(peer), localPath: mirror())
        let submitted = Task {
            try await writer.submit(
                cluster: "a", directory: "clusters/a", changes: [.write("clusters/a/x", "x")], message: "m")
        }
        try await Task.sleep(for: .milliseconds(300))
        await writer.cancelAll()
        // Before the stream, libgit2 sat in recv() until the server answered, then failed on its answer.
        await #expect { _ = try await submitted.value } throws: { ($0 as? GitError)?.kind == .cancelled }
    }

    @Test func aRefusedConnectionIsATransportFailureNamingTheAddress() async throws {
        // A port nobody listens on any more: a peer's, once stopped.
        let peer = try PeerServer(lifetime: 10)
        let port = peer.port
        peer.stop()
        let remote = GitRemote(
            url: "https://127.0.0.1:\(port)/repo", authentication: .basic(username: "git", password: Secret("unused")))
        let writer = try RepositoryWriter(remote: remote, localPath: mirror())
        await #expect {
            _ = try await writer.submit(
                cluster: "a", directory: "clusters/a", changes: [.write("clusters/a/x", "x")], message: "m")
        } throws: { error in
            (error as? GitError)?.kind == .transport
                && "\(error)".contains("failed to connect to 127.0.0.1:\(port): Connection refused")
        }
    }
}
