#!/usr/bin/env bash
# One command for all benchmarks: builds what is needed (Release, in
# build-bench/), then runs bench/bench.py, which prints the tables and
# rewrites bench/RESULTS.md.
#   bench/run.sh [--quick] [--only throughput,lookups,freshness,economy,coldstart,memory]
#                [--keep] [--no-write] [--write] [--out FILE]
# Env: BENCH_BUILD (build dir, default build-bench), BENCH_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD:-build-bench}
jobs=${BENCH_JOBS:-2}
for tool in wrk nginx sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install wrk nginx-light sqlite3)" >&2; exit 2; }
done
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# Build each piece that exists; a missing component is reported by the
# benchmark that needs it instead of stopping everything.
cmake --build "$build" -j"$jobs" --target ltxgen vfs_lookup
for t in ltxpaged freshness ltxctl ltxhttp; do
    cmake --build "$build" -j"$jobs" --target "$t" >/dev/null 2>&1 || echo "bench: note: target $t did not build (component missing?)" >&2
done
exec python3 bench/bench.py --build "$build" "$@"
