#!/usr/bin/env python3
"""Client-side probe: starts a TCP connect to VIP:PORT every 10 ms, each with a 50 ms timeout,
without waiting for the previous one (non-blocking sockets, epoll), for DURATION seconds.
Prints one line per attempt: '<monotonic completion time> <1|0>' (1 = connected).

Attempts overlap on purpose: a connect whose SYN went to a dead director costs its full
timeout, and a sequential probe would report that timeout as outage even when the VIP answered
again meanwhile. CLOCK_MONOTONIC is system-wide, so the driver can compare times with its own."""
import errno
import select
import socket
import sys
import time

vip, port, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
family = socket.AF_INET6 if ":" in vip else socket.AF_INET
period, timeout = 0.010, 0.050
ep = select.epoll()
inflight = {}  # fd -> (socket, deadline)
results = []
start = time.monotonic()
next_at = start


def finish(fd, ok, when):
    s, _ = inflight.pop(fd)
    ep.unregister(fd)
    s.close()
    results.append((when, ok))


while True:
    now = time.monotonic()
    if now >= next_at and now - start <= duration:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((vip, port))
        if err in (0, errno.EINPROGRESS):
            inflight[s.fileno()] = (s, now + timeout)
            ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)
        else:
            s.close()
            results.append((now, 0))
        next_at += period
        if next_at < now:
            next_at = now + period
    if now - start > duration and not inflight:
        break
    wait = max(0.0, min([next_at - now] + [d - now for _, d in inflight.values()]))
    for fd, ev in ep.poll(wait):
        s, _ = inflight[fd]
        ok = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        finish(fd, 1 if ok else 0, time.monotonic())
    now = time.monotonic()
    for fd in [fd for fd, (_, d) in inflight.items() if d <= now]:
        finish(fd, 0, now)
results.sort()
print("\n".join(f"{t:.6f} {ok}" for t, ok in results))
