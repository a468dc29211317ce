#!/bin/bash
# Run inside ipvs-vm (see README.md): makes a few IPVS connections from the guest itself and prints
# /proc/net/ip_vs_conn with the `ipvsadm -Lnc` outputs taken between two identical reads of it.
ip link add v0 type veth peer name v1; ip addr add 10.0.0.9/24 dev v0; ip -6 addr add 2001:db8::9/64 dev v0 nodad; ip link set v0 up; ip link set v1 up
ip addr add 10.0.0.1/32 dev lo; ip -6 addr add 2001:db8::1/128 dev lo
ipvsadm -A -t 10.0.0.1:80 -s rr; ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2 -g
ipvsadm -A -u 10.0.0.1:53 -s rr; ipvsadm -a -u 10.0.0.1:53 -r 10.0.0.3:5353 -m
ipvsadm -A -t 10.0.0.1:443 -p 120; ipvsadm -a -t 10.0.0.1:443 -r 10.0.0.2 -g
ipvsadm -A -t [2001:db8::1]:80 -s rr; ipvsadm -a -t [2001:db8::1]:80 -r [2001:db8::2]:8080 -m
ipvsadm -A -f 7 -p 60; ipvsadm -a -f 7 -r 10.0.0.4 -g
(nc -w 2 10.0.0.1 80 </dev/null >/dev/null 2>&1 &)
(echo x > /dev/udp/10.0.0.1/53) 2>/dev/null
(nc -w 2 10.0.0.1 443 </dev/null >/dev/null 2>&1 &)
(nc -w 2 2001:db8::1 80 </dev/null >/dev/null 2>&1 &)
nft add table ip m; nft add chain ip m o '{ type route hook output priority mangle; }'; nft add rule ip m o tcp dport 8000 meta mark set 7
(nc -w 2 10.0.0.1 8000 </dev/null >/dev/null 2>&1 &)
sleep 3
for i in 1 2 3 4 5 6 7 8 9 10; do
  cat /proc/net/ip_vs_conn > /tmp/a; ipvsadm -Lnc > /tmp/o; ipvsadm -Lnc --persistent-conn > /tmp/p; cat /proc/net/ip_vs_conn > /tmp/b
  [ "$(cat /tmp/a)" = "$(cat /tmp/b)" ] && break
done
echo "C|proc"; sed 's/^/O|/' /tmp/a; echo "R|0"
echo "C|-Lnc"; sed 's/^/O|/' /tmp/o; echo "R|0"
echo "C|-Lnc --persistent-conn"; sed 's/^/O|/' /tmp/p; echo "R|0"
