#!/usr/bin/env bash
# Times `vigil check --offline` against `keepalived -t` on a generated keepalived.conf with
# 10,000 virtual servers x 4 real servers, each with an HTTP_GET block (~540,000 lines).
# Usage: bench/config/run.sh [rounds]   (build first: swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
dir=$(mktemp -d /tmp/vgc-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
conf=$dir/keepalived.conf
python3 - "$conf" <<'PY'
import sys
out = open(sys.argv[1], "w")
w = out.write
w("global_defs {\n    router_id BENCH\n}\n")
for i in range(10000):
    a, b = divmod(i, 250)
    w(f"virtual_server 10.{a // 250}.{a % 250}.{b + 1} 80 {{\n    delay_loop 6\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n")
    for r in range(4):
        w(f"    real_server 172.16.{i % 250}.{r + 1} 8080 {{\n        weight 1\n        HTTP_GET {{\n            url {{\n"
          f"                path /health\n                digest 0123456789abcdef0123456789abcdef\n            }}\n"
          f"            connect_timeout 3\n            retry 3\n            delay_before_retry 3\n        }}\n    }}\n")
    w("}\n")
out.close()
PY
lines=$(wc -l < "$conf")
vigil=.build/release/vigil
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() { # prints elapsed seconds and max RSS (KiB) of one run
  /usr/bin/time -f "%e %M" -o "$dir/t" "$@" >/dev/null 2>&1 || true
  cat "$dir/t"
}
: > "$dir/v"; : > "$dir/k"
for _ in $(seq "$rounds"); do
  run "$vigil" check --offline --no-notes -f "$conf" >> "$dir/v"
  run keepalived -t -f "$conf" -l -n >> "$dir/k"
done
vt=$(cut -d' ' -f1 "$dir/v" | median); vm=$(cut -d' ' -f2 "$dir/v" | sort -n | tail -1)
kt=$(cut -d' ' -f1 "$dir/k" | median); km=$(cut -d' ' -f2 "$dir/k" | sort -n | tail -1)
echo "config: $lines lines, $rounds rounds"
echo "vigil check --offline: median ${vt}s, peak RSS $((vm / 1024)) MiB"
echo "keepalived -t:         median ${kt}s, peak RSS $((km / 1024)) MiB"
awk -v v="$vt" -v k="$kt" 'BEGIN { if (k > 0) printf "ratio vigil/keepalived: %.2f\n", v / k }'
