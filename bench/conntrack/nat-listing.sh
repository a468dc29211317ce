V=${VIGIL:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/vigil}
ip netns del vgn-b 2>/dev/null
ip netns add vgn-b
ip -n vgn-b link add eth0 type veth peer name eth9; ip -n vgn-b link set eth9 up; ip -n vgn-b link set eth0 up; ip -n vgn-b link set lo up
export VIGIL_NFT_INTERFACE=eth0
ip netns exec vgn-b $V ipvsadm -A -t 10.99.0.21:80 -s wlc
ip netns exec vgn-b $V ipvsadm -a -t 10.99.0.21:80 -r 10.98.0.2:8080 -m
ip netns exec vgn-b sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 2>/dev/null
ip netns exec vgn-b nft add table ip vgnb \; add chain ip vgnb out "{ type filter hook output priority 0; }" \; add rule ip vgnb out ct state new counter
ip netns exec vgn-b $V ipvsadm -Ln
ip netns exec vgn-b python3 -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for p in range(20000): s.sendto(b"x",("127.0.0.1",20000+p))
'
ip netns exec vgn-b python3 - <<'PY'
import socket,struct
s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,12); s.bind((0,0))
s.send(struct.pack("=IHHII",20,(1<<8)|1,0x301,1,0)+bytes([2,0,0,0]))
n=0
while True:
    d=s.recv(1<<20); o=0; done=False
    while o<len(d):
        l,t=struct.unpack("=IH",d[o:o+6])
        if t==3: done=True
        elif t==0x100: n+=1
        o+=(l+3)&~3
    if done: break
print("conntrack entries:",n)
PY
for i in 1 2 3; do /usr/bin/time -f "ipvsadm -Lnc %e s" ip netns exec vgn-b $V ipvsadm -Lnc | wc -l; done
for i in 1 2 3; do /usr/bin/time -f "ipvsadm -Ln %e s" ip netns exec vgn-b $V ipvsadm -Ln >/dev/null; done
ip netns exec vgn-b $V ipvsadm -C
ip netns exec vgn-b $V ipvsadm -A -t 10.99.0.21:80 -s wlc
ip netns exec vgn-b $V ipvsadm -a -t 10.99.0.21:80 -r 10.99.0.31:80 -m 2>&1 | head -2
for i in 1 2 3; do /usr/bin/time -f "ipvsadm -Ln (NAT service, no match) %e s" ip netns exec vgn-b $V ipvsadm -Ln >/dev/null; done
ip netns del vgn-b
