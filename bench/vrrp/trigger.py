#!/usr/bin/env python3
"""Waits for a VRRP advertisement from SOURCE (224.0.0.18, joined on the interface of LOCAL)
and at once sends SIGNAL to the given PIDs, then optionally takes a namespace's eth0 down (a
dead host). Prints the CLOCK_MONOTONIC time of the signal. Doing this here, not in the
driver, keeps the event within about a millisecond of the master's advert.

  trigger.py SOURCE LOCAL KILL|TERM PID[,PID...] [DOWN_NAMESPACE]"""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

source, local, sig, pids = sys.argv[1], sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4].split(",")]
down = sys.argv[5] if len(sys.argv) > 5 else None
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton("224.0.0.18"), socket.inet_aton(local)))
s.settimeout(10)
while True:
    data, (addr, _) = s.recvfrom(2048)
    if addr == source:
        break
t = time.monotonic()
for p in pids:
    os.kill(p, signal.SIGKILL if sig == "KILL" else signal.SIGTERM)
if down:
    subprocess.run(["ip", "-n", down, "link", "set", "eth0", "down"], check=True)
print(f"{t:.6f}")
