// libcurl's socket interface on epoll. curl_multi_perform and curl_multi_poll walk every transfer of the multi
// handle on each wakeup; with hundreds of transfers in flight (a hundred clusters, several requests each) that walk
// was most of the HTTP thread's time. Here epoll says which sockets are ready and curl hears about those only
// (curl_multi_socket_action), plus its one timer. Used by one thread; only fs_curl_events_wake is for any thread.
#ifndef FLEETSTRAP_CCURL_EVENTS_H
#define FLEETSTRAP_CCURL_EVENTS_H
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct fs_curl_events {
    CURLM *multi;
    int epoll;
    /// An eventfd in the epoll set: a submission or a cancellation from another thread ends the wait.
    int wake;
    /// curl's timer: due at `due` (CLOCK_MONOTONIC) when `armed`.
    int armed;
    struct timespec due;
} fs_curl_events;

static int fs_curl_events_socket(CURL *easy, curl_socket_t socket, int what, void *user, void *registered) {
    (void)easy;
    fs_curl_events *events = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(events->epoll, EPOLL_CTL_DEL, socket, NULL);
        curl_multi_assign(events->multi, socket, NULL);
        return 0;
    }
    struct epoll_event event = {0};
    event.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    event.data.fd = socket;
    // A socket curl has not told us about before is added; a known one changes what it waits for. Either way the
    // other operation covers a socket number reused behind our back.
    int first = registered == NULL ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(events->epoll, first, socket, &event) != 0) {
        epoll_ctl(events->epoll, first == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &event);
    }
    if (registered == NULL) curl_multi_assign(events->multi, socket, events);
    return 0;
}

static int fs_curl_events_timer(CURLM *multi, long milliseconds, void *user) {
    (void)multi;
    fs_curl_events *events = user;
    if (milliseconds < 0) {
        events->armed = 0;
        return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &events->due);
    events->due.tv_sec += milliseconds / 1000;
    events->due.tv_nsec += (milliseconds % 1000) * 1000000L;
    if (events->due.tv_nsec >= 1000000000L) {
        events->due.tv_sec += 1;
        events->due.tv_nsec -= 1000000000L;
    }
    events->armed = 1;
    return 0;
}

/// Milliseconds until curl's timer is due (0 when past), or -1 when it is not armed.
static inline long fs_curl_events_timer_left(const fs_curl_events *events) {
    if (!events->armed) return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = (long)(events->due.tv_sec - now.tv_sec) * 1000 + (events->due.tv_nsec - now.tv_nsec) / 1000000L;
    return left < 0 ? 0 : left;
}

/// Sets `multi` up for the socket interface; NULL when epoll or eventfd cannot be had.
static inline fs_curl_events *fs_curl_events_new(CURLM *multi) {
    fs_curl_events *events = calloc(1, sizeof(fs_curl_events));
    if (events == NULL) return NULL;
    events->multi = multi;
    events->epoll = epoll_create1(EPOLL_CLOEXEC);
    events->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event event = {0};
    event.events = EPOLLIN;
    event.data.fd = events->wake;
    if (events->epoll < 0 || events->wake < 0 || epoll_ctl(events->epoll, EPOLL_CTL_ADD, events->wake, &event) != 0) {
        if (events->epoll >= 0) close(events->epoll);
        if (events->wake >= 0) close(events->wake);
        free(events);
        return NULL;
    }
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, fs_curl_events_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, (void *)events);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, fs_curl_events_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, (void *)events);
    return events;
}

/// Ends a wait in progress (or the next one) from any thread.
static inline void fs_curl_events_wake(fs_curl_events *events) {
    uint64_t one = 1;
    ssize_t written = write(events->wake, &one, sizeof one);
    (void)written;  // EAGAIN: the counter is full, a wake is pending anyway.
}

/// Waits up to `limit` milliseconds for a ready socket, curl's timer or a wake, then tells curl about each socket
/// that is ready and about its timer when due. Finished transfers are then read with curl_multi_info_read.
static inline void fs_curl_events_step(fs_curl_events *events, int limit) {
    long left = fs_curl_events_timer_left(events);
    int wait = (left >= 0 && left < limit) ? (int)left : limit;
    struct epoll_event ready[256];
    int count = epoll_wait(events->epoll, ready, 256, wait);
    int running = 0;
    for (int i = 0; i < count; i++) {
        int socket = ready[i].data.fd;
        if (socket == events->wake) {
            uint64_t value;
            ssize_t got = read(events->wake, &value, sizeof value);
            (void)got;
            continue;
        }
        int mask = 0;
        if (ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) mask |= CURL_CSELECT_IN;
        if (ready[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (ready[i].events & EPOLLERR) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(events->multi, socket, mask, &running);
    }
    if (fs_curl_events_timer_left(events) == 0) {
        events->armed = 0;  // curl arms it again through the callback if it needs to
        curl_multi_socket_action(events->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/// After curl_multi_cleanup (which may still tell the socket callback to forget sockets).
static inline void fs_curl_events_free(fs_curl_events *events) {
    close(events->epoll);
    close(events->wake);
    free(events);
}
#endif
