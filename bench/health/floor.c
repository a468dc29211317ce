/* The kernel floor of TCP_CHECK: the same non-blocking connects as Vigil's TCP check loop
 * (socket, connect, epoll, close) at the same rate, with no decision logic at all. Whatever
 * checker does this work (keepalived included) pays at least this CPU.
 *
 *   floor --tcp N --seconds S [--tcp-base 10.1.0.1] [--tcp-port 81]   (N connects per second) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(double *user, double *sys) {
    struct rusage u; getrusage(RUSAGE_SELF, &u);
    *user = u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6; *sys = u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
    return *user + *sys;
}

int main(int argc, char **argv) {
    int n = 10000; double secs = 20, settle = 3; const char *base = "10.1.0.1"; int port = 81;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tcp")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tcp-base")) base = argv[i + 1];
        else if (!strcmp(argv[i], "--tcp-port")) port = atoi(argv[i + 1]);
    }
    struct in_addr b; inet_pton(AF_INET, base, &b);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[512];
    double start = now(), next = start, u0 = 0, s0 = 0, c0 = 0; long done = 0, done0 = 0; int measuring = 0, idx = 0;
    double interval = 1.0 / n;
    for (;;) {
        double t = now();
        if (!measuring && t - start >= settle) { c0 = cpu(&u0, &s0); done0 = done; measuring = 1; start = t; }
        if (measuring && t - start >= secs) break;
        while (next <= t) {  /* one connect per 1/n s, round robin over the n addresses */
            struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
            sa.sin_addr.s_addr = htonl(ntohl(b.s_addr) + (idx++ % n));
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) { close(fd); done++; }
            else if (errno == EINPROGRESS) { struct epoll_event e = { .events = EPOLLOUT, .data.fd = fd }; epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e); }
            else close(fd);
            next += interval;
        }
        int k = epoll_wait(ep, evs, 512, 1);
        for (int i = 0; i < k; i++) { close(evs[i].data.fd); done++; }
    }
    double u1, s1, c1 = cpu(&u1, &s1), wall = now() - start;
    printf("kernel floor: %d connects/s target, %.0f done/s\n", n, (done - done0) / wall);
    printf("CPU per second:        %.3f s (%.1f%% of one core)\n", (c1 - c0) / wall, 100 * (c1 - c0) / wall);
    printf("  of which user/sys:   %.3f / %.3f s\n", (u1 - u0) / wall, (s1 - s0) / wall);
    return 0;
}
