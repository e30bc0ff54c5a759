// Typed wrappers for libcurl's variadic calls, which Swift cannot import.
#ifndef FLEETSTRAP_CCURL_SHIM_H
#define FLEETSTRAP_CCURL_SHIM_H
#include <curl/curl.h>

static inline CURLcode fs_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_blob(CURL *h, CURLoption o, struct curl_blob *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_write_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f);
}
static inline CURLcode fs_curl_setopt_header_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, f);
}
static inline CURLcode fs_curl_setopt_read_function(CURL *h, size_t (*f)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, CURLOPT_READFUNCTION, f);
}
static inline CURLcode fs_curl_setopt_xferinfo_function(CURL *h, int (*f)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t)) {
    return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, f);
}
static inline CURLcode fs_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode fs_curl_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode fs_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode fs_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

// A share object holding TLS sessions, so that a new connection to a server seen before resumes its session (no
// certificate chain to verify, no key exchange signature) instead of a full handshake. Locked per kind of data:
// easy handles are configured on any thread.
#include <pthread.h>
#include <stdlib.h>
static void fs_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user) {
    (void)h; (void)access;
    pthread_mutex_lock(&((pthread_mutex_t *)user)[data]);
}
static void fs_share_unlock(CURL *h, curl_lock_data data, void *user) {
    (void)h;
    pthread_mutex_unlock(&((pthread_mutex_t *)user)[data]);
}
typedef struct fs_curl_pool {
    CURLSH *share;
    pthread_mutex_t mutexes[CURL_LOCK_DATA_LAST];
} fs_curl_pool;

/// `connections`: the share also holds connections and DNS answers (a pool of its own), not only TLS sessions.
static inline fs_curl_pool *fs_curl_pool_new(int connections) {
    fs_curl_pool *pool = calloc(1, sizeof(fs_curl_pool));
    if (pool == NULL) return NULL;
    pool->share = curl_share_init();
    if (pool->share == NULL) {
        free(pool);
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&pool->mutexes[i], NULL);
    curl_share_setopt(pool->share, CURLSHOPT_USERDATA, (void *)pool->mutexes);
    curl_share_setopt(pool->share, CURLSHOPT_LOCKFUNC, fs_share_lock);
    curl_share_setopt(pool->share, CURLSHOPT_UNLOCKFUNC, fs_share_unlock);
    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (connections) {
        curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
    return pool;
}

/// Made once per process and never freed.
static inline CURLSH *fs_curl_share_tls_sessions(void) {
    fs_curl_pool *pool = fs_curl_pool_new(0);
    return pool == NULL ? NULL : pool->share;
}

/// Closes the pool's connections and frees it. Only once every easy handle that used it is cleaned up; were one
/// left, libcurl refuses and the pool is left allocated rather than freed under it.
static inline void fs_curl_pool_free(fs_curl_pool *pool) {
    if (curl_share_cleanup(pool->share) != CURLSHE_OK) return;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&pool->mutexes[i]);
    free(pool);
}
#endif
