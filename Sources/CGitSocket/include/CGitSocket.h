// libgit2's plain socket stream, replaced: the same connection, with TCP_NODELAY, timeouts and cancellation.
//
// libgit2 1.5 writes a TLS handshake and an HTTP request in several small pieces without TCP_NODELAY, so Nagle's
// algorithm holds each piece until the server's delayed ACK (40 ms on Linux): measured ~150 ms of every push. It also
// blocks in recv() forever on a server that stops answering, where no progress callback can see a cancellation.
// This stream is registered as libgit2's GIT_STREAM_STANDARD, which its HTTPS (wrapped in TLS) and SSH transports
// open, and keeps the layout of libgit2's own socket stream: the SSH transport reads the descriptor from it.
#ifndef FLEETSTRAP_CGITSOCKET_H
#define FLEETSTRAP_CGITSOCKET_H

/// A flag one Git operation's thread reads while it waits on the network; raised from any thread.
typedef struct fs_git_cancel fs_git_cancel;

fs_git_cancel *fs_git_cancel_new(void);
void fs_git_cancel_free(fs_git_cancel *cancel);
void fs_git_cancel_raise(fs_git_cancel *cancel);
int fs_git_cancel_raised(const fs_git_cancel *cancel);
/// This operation's own idle timeout in milliseconds, instead of the registered one (0: the registered one).
void fs_git_cancel_set_idle_timeout(fs_git_cancel *cancel, int idle_timeout_ms);

/// The flag the calling thread's connections watch (NULL: none). Set before a libgit2 call, cleared after it.
void fs_git_socket_watch(const fs_git_cancel *cancel);

/// Why the calling thread's last connection failed (NULL: none since the last clear). libgit2's TLS layer replaces
/// the stream's message with a generic one ("SSL error: … Generic error"): this one says what happened.
const char *fs_git_socket_failure(void);
void fs_git_socket_clear_failure(void);

/// Registers the stream with libgit2 (after git_libgit2_init). Timeouts in milliseconds: to connect, and with no
/// byte moving either way while waiting to read or write. Returns libgit2's error code.
int fs_git_socket_register(int connect_timeout_ms, int idle_timeout_ms);

/// How many connections this stream opened (for tests: proof that libgit2 used it).
long fs_git_socket_connections(void);

#endif
