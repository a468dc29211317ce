#define _GNU_SOURCE
#include "CVigilShims.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t vigil_recv6(int fd, uint8_t *buf, size_t len, struct sockaddr_in6 *from,
                    struct in6_addr *dst, int *hoplimit) {
    union { char raw[256]; struct cmsghdr align; } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_name = from, .msg_namelen = sizeof(*from), .msg_iov = &iov,
                          .msg_iovlen = 1, .msg_control = control.raw, .msg_controllen = sizeof(control.raw) };
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) return n;
    *hoplimit = -1;
    memset(dst, 0, sizeof(*dst));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IPV6) continue;
        if (c->cmsg_type == IPV6_HOPLIMIT) memcpy(hoplimit, CMSG_DATA(c), sizeof(int));
        else if (c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            *dst = pi.ipi6_addr;
        }
    }
    return n;
}

ssize_t vigil_recv4(int fd, uint8_t *buf, size_t len, struct sockaddr_in *from, int *ttl) {
    union { char raw[128]; struct cmsghdr align; } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_name = from, .msg_namelen = sizeof(*from), .msg_iov = &iov,
                          .msg_iovlen = 1, .msg_control = control.raw, .msg_controllen = sizeof(control.raw) };
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) return n;
    *ttl = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
            int v; memcpy(&v, CMSG_DATA(c), sizeof(int)); *ttl = v;
        }
    }
    return n;
}

int vigil_if_hwaddr(const char *ifname, uint8_t mac[6]) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    int r = ioctl(fd, SIOCGIFHWADDR, &ifr);
    int saved = errno;
    close(fd);
    if (r < 0) { errno = saved; return -1; }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

pid_t vigil_spawn(const char *path, char *const argv[], int change_ids, uid_t uid, gid_t gid) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: only async-signal-safe calls from here on.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) { dup2(devnull, 0); }
    if (change_ids) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    }
    execv(path, argv);
    _exit(127);
}

int vigil_setns_net(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = setns(fd, CLONE_NEWNET);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

int vigil_if_flags(int fd, const char *ifname) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return -1;
    return ifr.ifr_flags & 0xffff;
}
