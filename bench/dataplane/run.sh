#!/bin/sh
# Data-plane throughput and update-time benchmark (issue 4). Root only; about 6 minutes.
# Builds the test bundle in release mode, then runs DataPlaneBenchmark in namespaces named vgd*:
# wrk -t3 -c63 from the client, interleaved rounds over (a) direct to 3 rs, (b) vigil DR,
# (c) vigil NAT, (d) HAProxy TCP mode; then update times for 1,000 servers and a 65,537-slot Maglev.
# Env: VIGIL_BENCH_SECONDS (default 8), VIGIL_BENCH_ROUNDS (default 5), OUT (default bench/dataplane/last.md).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/dataplane/last.md}
VIGIL_BENCH=1 VIGIL_BENCH_OUT="$PWD/$OUT" swift test -c release --filter DataPlaneBenchmark
cat "$OUT"
