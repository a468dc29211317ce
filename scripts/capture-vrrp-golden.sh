#!/usr/bin/env bash
# Captures golden VRRP packets from Debian's keepalived 2.2.7 for Tests/VRRPCoreTests/Fixtures.
# Two throwaway namespaces joined by a veth pair; keepalived runs in one, tcpdump in the other.
# Needs root, keepalived, tcpdump, python3. Removes everything it created on exit.
set -euo pipefail
out=${1:-$(dirname "$0")/../Tests/VRRPCoreTests/Fixtures}
tag=vgvcap$$
A=${tag}a; B=${tag}b
work=$(mktemp -d)
kpid=""; tpid=""
cleanup() {
  [ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null || true
  sleep 0.5
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip -n "$A" link add d0 type veth peer name d0 netns "$B"
ip -n "$A" link set d0 address 02:00:00:00:00:0b
ip -n "$B" link set d0 address 02:00:00:00:00:0f
ip -n "$A" addr add 192.168.0.11/24 dev d0
ip -n "$B" addr add 192.168.0.15/24 dev d0
ip -n "$A" addr add fe80::11/64 dev d0 nodad
ip -n "$B" addr add fe80::15/64 dev d0 nodad
ip -n "$A" addr add 2001:db8::11/64 dev d0 nodad
for n in "$A" "$B"; do ip -n "$n" link set lo up; ip -n "$n" link set d0 up; done
# Drop the kernel's automatic EUI-64 link-local so the advert source is the fixed fe80::11.
sleep 1
ip -n "$A" -6 addr flush dev d0 scope link
ip -n "$A" addr add fe80::11/64 dev d0 nodad

cat > "$work/keepalived.conf" <<CONF
global_defs {
  router_id golden
  vrrp_garp_master_delay 0
}
vrrp_instance LVSha {
  state MASTER
  interface d0
  virtual_router_id 51
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass 1111
  }
  virtual_ipaddress {
    192.168.0.21
  }
}
vrrp_instance V3v4 {
  state BACKUP
  interface d0
  version 3
  virtual_router_id 52
  priority 120
  advert_int 0.1
  virtual_ipaddress {
    192.168.0.22
    192.168.0.23
  }
}
vrrp_instance V3v6 {
  state BACKUP
  interface d0
  version 3
  virtual_router_id 53
  priority 110
  advert_int 1
  virtual_ipaddress {
    2001:db8::21/64
  }
}
vrrp_instance Uni {
  state BACKUP
  interface d0
  version 3
  virtual_router_id 54
  priority 100
  advert_int 1
  unicast_src_ip 192.168.0.11
  unicast_peer {
    192.168.0.15
  }
  virtual_ipaddress {
    192.168.0.24
  }
}
CONF
ip netns exec "$B" tcpdump -i d0 -U -w "$work/vrrp.pcap" 'ip proto 112 or ip6 proto 112' >"$work/tcpdump.log" 2>&1 &
tpid=$!
sleep 1
ip netns exec "$A" keepalived -n -l -D -G -P -f "$work/keepalived.conf" -p "$work/k.pid" -r "$work/v.pid" \
  >"$work/keepalived.log" 2>&1 &
kpid=$!
sleep 7
kill -TERM "$kpid"; wait "$kpid" || true; kpid=""
sleep 1
kill "$tpid"; wait "$tpid" || true; tpid=""
cp "$work/keepalived.log" "$out/keepalived-capture.log"
python3 - "$work/vrrp.pcap" "$out" <<'PY'
import struct, sys, ipaddress, os
pcap, out = sys.argv[1], sys.argv[2]
data = open(pcap, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
assert magic in (0xa1b2c3d4, 0xa1b23c4d), hex(magic)
linktype = struct.unpack('<I', data[20:24])[0]
assert linktype == 1, linktype  # Ethernet
off = 24
seen = {}
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack('<IIII', data[off:off+16]); off += 16
    frame = data[off:off+incl]; off += incl
    etype = struct.unpack('!H', frame[12:14])[0]
    ip = frame[14:]
    if etype == 0x0800:
        ihl = (ip[0] & 15) * 4; total = struct.unpack('!H', ip[2:4])[0]
        ttl, src, dst = ip[8], ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        payload = ip[ihl:total]
    elif etype == 0x86dd:
        plen = struct.unpack('!H', ip[4:6])[0]
        ttl, src, dst = ip[7], ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
        payload = ip[40:40+plen]
    else:
        continue
    ver, vrid, prio = payload[0] >> 4, payload[1], payload[2]
    kind = {51: 'v2-pass', 52: 'v3-ipv4', 53: 'v3-ipv6', 54: 'v3-unicast'}.get(vrid, 'vrid%d' % vrid)
    name = '%s-prio%d' % (kind, prio)
    if name in seen: continue
    seen[name] = True
    with open(os.path.join(out, name + '.hex'), 'w') as f:
        f.write('# captured from keepalived 2.2.7 by scripts/capture-vrrp-golden.sh\n')
        f.write('# src %s\n# dst %s\n# ttl %d\n' % (src, dst, ttl))
        f.write(payload.hex() + '\n')
    print(name, src, dst, ttl, payload.hex())
PY
