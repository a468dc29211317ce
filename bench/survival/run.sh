#!/bin/sh
# Connection survival benchmark (issue 7). Root only; about 3-4 minutes.
# Runs SurvivalBenchmark in namespaces named vgx*: two `vigil run` directors on the lab topology,
# 20 long downloads through the VIP, one event each (master kill, graceful failover, drain, reload),
# for Vigil and for keepalived-style operation (VIGIL_CONN_SYNC=off VIGIL_NFT_MISS=keepalived);
# then the sync lag and the cost of syncing 1,000 and 10,000 entries.
# Env: OUT (default bench/survival/last.md).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/survival/last.md}
swift build --build-tests
VIGIL_BENCH=1 VIGIL_BENCH_OUT="$PWD/$OUT" swift test --skip-build --filter SurvivalBenchmark
cat "$OUT" "$OUT.sync.md"
