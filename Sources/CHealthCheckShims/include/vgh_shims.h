#ifndef VGH_SHIMS_H
#define VGH_SHIMS_H
#include <sys/types.h>
#include <sys/epoll.h>

/// Starts `path` with `argv` (NULL-terminated) in a new process group, stdin/stdout/stderr on
/// /dev/null, optionally as `gid`/`uid` (-1 = unchanged). Only async-signal-safe calls run in the
/// child between fork and exec. Returns the pid, or -1 with errno set.
pid_t vgh_spawn(const char *path, char *const argv[], long uid, long gid);

#endif
