#!/bin/sh
# Health-checking cost (issue 5): N real servers with TCP_CHECK and M with HTTP_GET at
# delay_loop 1 against nginx in a private namespace, measured by health-bench (CPU from
# getrusage of its own process, peak memory from VmHWM).
#
#   bench/health/run.sh [TCP_COUNT] [HTTP_COUNT] [SECONDS]     (root; builds release first)
#   HEALTH_BENCH_BIN=/tmp/floor bench/health/run.sh 11000 0 20  (the kernel floor, bench/health/floor.c)
set -eu
TCP=${1:-10000}
HTTP=${2:-1000}
SECS=${3:-20}
cd "$(dirname "$0")/../.."
if [ -n "${HEALTH_BENCH_BIN:-}" ]; then
    BIN=$HEALTH_BENCH_BIN
else
    swift build -c release --product health-bench >/dev/null
    BIN=$(swift build -c release --show-bin-path)/health-bench
fi
NS=vghbench$$
DIR=$(mktemp -d /tmp/vghbench.XXXXXX)
cleanup() {
    [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
# Every address of 10.1.0.0/16 (TCP targets) and 10.2.0.0/16 (HTTP targets) is local in the
# namespace, so one listener per port serves thousands of distinct real servers.
ip -n "$NS" route add local 10.1.0.0/16 dev lo
ip -n "$NS" route add local 10.2.0.0/16 dev lo
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096
chmod 755 "$DIR"
mkdir -p "$DIR/html"
echo "vigil health bench" > "$DIR/html/index.html"
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_timeout 0;
    server { listen 80 backlog=4096; listen 81 backlog=4096; root $DIR/html; }
}
CONF
ip netns exec "$NS" nginx -c "$DIR/nginx.conf"
sleep 0.5
echo "command: bench/health/run.sh $TCP $HTTP $SECS"
ip netns exec "$NS" ${WRAP:-} "$BIN" --tcp "$TCP" --http "$HTTP" --seconds "$SECS"
