// libgit2's GIT_STREAM_STANDARD: a TCP connection with TCP_NODELAY, bounded waits and cancellation (see the header).
#define _GNU_SOURCE
#include "CGitSocket.h"

#include <errno.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fs_git_cancel {
    atomic_int raised;
    int idle_timeout_ms;  // set before the operation starts, then only read
};

fs_git_cancel *fs_git_cancel_new(void) {
    fs_git_cancel *cancel = malloc(sizeof *cancel);
    if (cancel) {
        atomic_init(&cancel->raised, 0);
        cancel->idle_timeout_ms = 0;
    }
    return cancel;
}

void fs_git_cancel_set_idle_timeout(fs_git_cancel *cancel, int idle_timeout_ms) {
    if (cancel) cancel->idle_timeout_ms = idle_timeout_ms;
}

void fs_git_cancel_free(fs_git_cancel *cancel) { free(cancel); }

void fs_git_cancel_raise(fs_git_cancel *cancel) {
    if (cancel) atomic_store_explicit(&cancel->raised, 1, memory_order_relaxed);
}

int fs_git_cancel_raised(const fs_git_cancel *cancel) {
    return cancel ? atomic_load_explicit(&((fs_git_cancel *)cancel)->raised, memory_order_relaxed) : 0;
}

static _Thread_local const fs_git_cancel *watched;
static _Thread_local char failure[512];

void fs_git_socket_watch(const fs_git_cancel *cancel) { watched = cancel; }

const char *fs_git_socket_failure(void) { return failure[0] ? failure : NULL; }

void fs_git_socket_clear_failure(void) { failure[0] = 0; }

static int connect_timeout_ms = 30000;
static int idle_timeout_ms = 120000;
static atomic_long connections;

long fs_git_socket_connections(void) { return atomic_load(&connections); }

// libgit2's own socket stream begins so (streams/socket.h), and its SSH transport hands `s` to libssh2.
typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int s;
} fs_socket_stream;

static void fail(int klass, const fs_socket_stream *st, const char *what, const char *why) {
    snprintf(failure, sizeof failure, "%s %s:%s: %s", what, st->host, st->port, why);
    git_error_set_str(klass, failure);
}

static int idle_timeout(void) {
    return watched && watched->idle_timeout_ms > 0 ? watched->idle_timeout_ms : idle_timeout_ms;
}

static long elapsed_ms(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

// Until the socket is ready for `events` (or failed: the next call reports why), in slices short enough to notice a
// cancellation. 0 when ready; -1 with libgit2's error set on a timeout or a cancellation.
static int wait_for(const fs_socket_stream *st, short events, int timeout_ms, const char *what) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (fs_git_cancel_raised(watched)) {
            fail(GIT_ERROR_NET, st, what, "cancelled");
            return -1;
        }
        long left = timeout_ms - elapsed_ms(&start);
        if (left <= 0) {
            char why[96];
            snprintf(why, sizeof why, "timed out: nothing in %.1f s", timeout_ms / 1000.0);
            fail(GIT_ERROR_NET, st, what, why);
            return -1;
        }
        struct pollfd fd = {.fd = st->s, .events = events};
        int ready = poll(&fd, 1, left < 100 ? (int)left : 100);
        if (ready > 0) return 0;
        if (ready < 0 && errno != EINTR) {
            fail(GIT_ERROR_NET, st, what, strerror(errno));
            return -1;
        }
    }
}

// 0: connected; 1: this address refused (errno in *reason), try the next; -1: stop (timed out or cancelled).
static int connect_one(fs_socket_stream *st, const struct addrinfo *address, int *reason) {
    if (connect(st->s, address->ai_addr, address->ai_addrlen) == 0) return 0;
    if (errno != EINPROGRESS) {
        *reason = errno;
        return 1;
    }
    if (wait_for(st, POLLOUT, connect_timeout_ms, "failed to connect to") < 0) return -1;
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(st->s, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error == 0) return 0;
    *reason = error;
    return 1;
}

static int stream_connect(git_stream *stream) {
    fs_socket_stream *st = (fs_socket_stream *)stream;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *addresses = NULL;
    int resolved = getaddrinfo(st->host, st->port, &hints, &addresses);
    if (resolved != 0) {
        fail(GIT_ERROR_NET, st, "failed to resolve address for", gai_strerror(resolved));
        return -1;
    }
    int reason = 0, outcome = 1;
    for (const struct addrinfo *address = addresses; address && outcome == 1; address = address->ai_next) {
        st->s = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address->ai_protocol);
        if (st->s < 0) {
            reason = errno;
            continue;
        }
        outcome = connect_one(st, address, &reason);
        if (outcome != 0) {
            close(st->s);
            st->s = -1;
        }
    }
    freeaddrinfo(addresses);
    if (outcome == 1) fail(GIT_ERROR_NET, st, "failed to connect to", strerror(reason ? reason : ECONNREFUSED));
    if (outcome != 0) return -1;
    // Each small write goes out at once: the peer's delayed ACK no longer holds the next one back.
    int on = 1;
    setsockopt(st->s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    atomic_fetch_add(&connections, 1);
    return 0;
}

// One recv or send, retried on EINTR and, while the socket is not ready, after waiting for it (the idle timeout).
static ssize_t transfer(fs_socket_stream *st, void *data, size_t length, int sending) {
    for (;;) {
        ssize_t count = sending ? send(st->s, data, length, MSG_NOSIGNAL) : recv(st->s, data, length, 0);
        if (count >= 0) return count;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(GIT_ERROR_NET, st, sending ? "could not write to" : "could not read from", strerror(errno));
            return -1;
        }
        if (wait_for(st, sending ? POLLOUT : POLLIN, idle_timeout(), sending ? "sending to" : "waiting for an answer from") < 0) return -1;
    }
}

static ssize_t stream_read(git_stream *stream, void *data, size_t length) {
    return transfer((fs_socket_stream *)stream, data, length, 0);
}

static ssize_t stream_write(git_stream *stream, const char *data, size_t length, int flags) {
    (void)flags;
    return transfer((fs_socket_stream *)stream, (void *)data, length, 1);
}

static int stream_close(git_stream *stream) {
    fs_socket_stream *st = (fs_socket_stream *)stream;
    int closed = st->s < 0 ? 0 : close(st->s);
    st->s = -1;
    return closed;
}

static void stream_free(git_stream *stream) {
    fs_socket_stream *st = (fs_socket_stream *)stream;
    if (st->s >= 0) close(st->s);
    free(st->host);
    free(st->port);
    free(st);
}

static int stream_new(git_stream **out, const char *host, const char *port) {
    fs_socket_stream *st = calloc(1, sizeof *st);
    if (st) {
        st->s = -1;
        st->host = strdup(host);
        st->port = strdup(port ? port : "");
    }
    if (!st || !st->host || !st->port) {
        if (st) stream_free(&st->parent);
        git_error_set_oom();
        return -1;
    }
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.connect = stream_connect;
    st->parent.read = stream_read;
    st->parent.write = stream_write;
    st->parent.close = stream_close;
    st->parent.free = stream_free;
    *out = &st->parent;
    return 0;
}

int fs_git_socket_register(int connect_timeout, int idle_timeout) {
    connect_timeout_ms = connect_timeout;
    idle_timeout_ms = idle_timeout;
    git_stream_registration registration = {.version = GIT_STREAM_VERSION, .init = stream_new};
    return git_stream_register(GIT_STREAM_STANDARD, &registration);
}
