#define _GNU_SOURCE
#include "vgh_shims.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

// A C shim because Swift must not run between fork() and exec(): setgid/setuid for MISC_CHECK's
// `user` cannot be done with posix_spawn, and Foundation.Process cannot change user.
pid_t vgh_spawn(const char *path, char *const argv[], long uid, long gid) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            if (devnull > 2) close(devnull);
        }
        if (gid >= 0) {
            if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0) goto fail;
        }
        if (uid >= 0 && setuid((uid_t)uid) != 0) goto fail;
        execvp(path, argv);
    fail:;
        int e = errno;
        (void)!write(errpipe[1], &e, sizeof e);
        _exit(127);
    }
    close(errpipe[1]);
    int childErr = 0;
    ssize_t n;
    do { n = read(errpipe[0], &childErr, sizeof childErr); } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof childErr) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = childErr;
        return -1;
    }
    return pid;
}
