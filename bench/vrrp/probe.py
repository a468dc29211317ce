#!/usr/bin/env python3
"""Client-side probe: one TCP connect to VIP:PORT every 10 ms with a 50 ms connect timeout,
for DURATION seconds. Prints one line per attempt: '<monotonic end time> <1|0>'.
CLOCK_MONOTONIC is system-wide, so the driver can compare these times with its own."""
import socket
import sys
import time

vip, port, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
family = socket.AF_INET6 if ":" in vip else socket.AF_INET
period, timeout = 0.010, 0.050
start = time.monotonic()
next_at = start
lines = []
while True:
    now = time.monotonic()
    if now - start > duration:
        break
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((vip, port))
        ok = 1
    except OSError:
        ok = 0
    finally:
        s.close()
    lines.append(f"{time.monotonic():.6f} {ok}")
    next_at += period
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    else:
        next_at = time.monotonic()
print("\n".join(lines))
