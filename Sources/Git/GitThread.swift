// libgit2's calls block: each runs on a thread of its own, never on Swift's cooperative pool. Cancelling the
// calling task raises a flag that libgit2's progress callbacks see, and so does the socket stream while it waits on
// the network (a server that stops answering cannot hold a cancelled operation): the operation stops.
import CGitSocket
import Foundation

/// Raised when the task waiting on an operation is cancelled.
final class Cancellation: @unchecked Sendable {  // an atomic flag owned by this object, read and raised from any thread
    fileprivate let flag: OpaquePointer

    /// `idleTimeout`: how long this operation's connections wait with nothing received or sent (nil: libgit2's
    /// registered default, `GitLibrary.idleTimeoutMilliseconds`).
    init(idleTimeout: Duration? = nil) {
        guard let flag = fs_git_cancel_new() else { fatalError("out of memory") }
        self.flag = flag
        if let idleTimeout {
            fs_git_cancel_set_idle_timeout(flag, Int32(min(max(idleTimeout / .milliseconds(1), 1), Double(Int32.max))))
        }
    }

    deinit { fs_git_cancel_free(flag) }

    var isCancelled: Bool { fs_git_cancel_raised(flag) != 0 }
    func cancel() { fs_git_cancel_raise(flag) }
}

enum GitThread {
    /// `idleTimeout`: how long the operation's connections may wait with nothing moving (nil: the registered default).
    static func run<T: Sendable>(idleTimeout: Duration? = nil, _ body: @escaping @Sendable (Cancellation) throws -> T)
        async throws -> T
    {
        let cancellation = Cancellation(idleTimeout: idleTimeout)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread {
                    fs_git_socket_watch(cancellation.flag)
                    let result = Result { try body(cancellation) }
                    fs_git_socket_watch(nil)
                    continuation.resume(with: result)
                }
                thread.name = "fleetstrap-git"
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onCancel: {
            cancellation.cancel()
        }
    }
}
