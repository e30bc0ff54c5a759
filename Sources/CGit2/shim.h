// Typed wrappers for libgit2's variadic calls, which Swift cannot import.
#ifndef FLEETSTRAP_CGIT2_SHIM_H
#define FLEETSTRAP_CGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/transport.h>

static inline int fs_git_opts_set_ssl_cert_locations(const char *file, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, path);
}
static inline int fs_git_opts_set_int(git_libgit2_opt_t opt, int value) {
    return git_libgit2_opts(opt, value);
}
static inline int fs_git_opts_set_cache_max_size(ssize_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, bytes);
}
static inline int fs_git_opts_set_mwindow_mapped_limit(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, bytes);
}
static inline int fs_git_opts_set_user_agent(const char *agent) {
    return git_libgit2_opts(GIT_OPT_SET_USER_AGENT, agent);
}
#endif
