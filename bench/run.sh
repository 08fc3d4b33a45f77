#!/usr/bin/env bash
# The full benchmark (not part of CI): micro-benchmarks, then the end-to-end load driver
# against the bare spawn limits (kairosd's own recipe and posix_spawn) and APScheduler 3.9.
#
#   bench/run.sh [BUILD_DIR]        default build/ (scripts/dev bench builds it first)
#   bench/run.sh BUILD_DIR BEFORE_BUILD_DIR
#                                   the load driver compares the two builds' daemons instead
#                                   (kairos_load.py --compare BEFORE BUILD: A before, B after,
#                                   alternating each round, no APScheduler; ~10 minutes)
#   OUT=DIR bench/run.sh            where results go (default BUILD_DIR/bench-results/DATE)
#
# Needs python3-apscheduler (apt-get install -y python3-apscheduler). Takes ~8 minutes.
# Figures depend on the machine being otherwise idle: it prints `uptime` before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BEFORE=${2:-}
OUT=${OUT:-$BUILD/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
  echo "kernel: $(uname -r)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n $BEFORE ]]; then echo "before: $BEFORE"; fi
  echo "uptime before: $(uptime)"
} | tee "$OUT/machine.txt"

echo "==> micro-benchmarks"
"$BUILD/bench/kairos_bench_cron" --benchmark_filter=BM_NextFireMix --benchmark_min_time=1 \
  | tee "$OUT/cron.txt"
"$BUILD/bench/kairos_bench_config" | tee "$OUT/config.txt"
"$BUILD/bench/kairos_bench_store" 2>&1 | tee "$OUT/store.txt"

echo "==> end-to-end load (bench/load/kairos_load.py)"
if [[ -n $BEFORE ]]; then
  /usr/bin/python3 bench/load/kairos_load.py --compare "$BEFORE" "$BUILD" --build "$BUILD" \
    --scale full --json "$OUT/compare.json" | tee "$OUT/compare.md"
else
  /usr/bin/python3 bench/load/kairos_load.py --build "$BUILD" --scale full --json "$OUT/load.json" \
    | tee "$OUT/load.md"
fi

echo "uptime after: $(uptime)" | tee -a "$OUT/machine.txt"
echo "==> results in $OUT"
