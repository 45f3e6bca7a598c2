#!/usr/bin/env bash
# The Parallax benchmark suite (issue 6; method and results: docs/PERFORMANCE.md).
#
#   bench/run.sh [--quick] [--build-dir DIR] [--out DIR] [--skip-build] [--only "SECTION..."]
#
# Runs, side by side on one machine and all on loopback (127.0.0.1 only):
#   micro     Google Benchmark: banner parsing, result encoding, diagnosis, /metrics
#   checks    SSH checks against the fast banner listener, in turn: the C epoll
#             ceiling, Parallax's real parallax-probe (with a real collector)
#             at 20,000 targets / 1 s and at a load it runs on time
#             (SUS_TARGETS, 5,000 / 1 s), the C client paced at that probe's
#             rate (same work, same rate), and blackbox_exporter (ssh_banner
#             module, 8..256 concurrent probes)
#   footprint parallax-probe with 10,000 targets at 10 s, half of them silent
#             (checks in flight until they time out): RSS, threads, lateness;
#             then 20,000 targets at 10 s, all answering (issue 10's RSS bar)
#   ingest    parallax-bench-loadgen: N synthetic probe streams into a real
#             collector: results/s acknowledged (committed), ack latency, memory
#   ingest_pg the same streams, half to each of two collectors sharing one
#             PostgreSQL server the bench starts (initdb in /tmp, loopback,
#             fsync on): results/s acknowledged, CPU of collectors and server
#   scaling   cost against targets, probe streams and timeouts (3 sizes each)
#   failing   bench/failing.sh (not with --quick: ctest failing_smoke): 5,000 targets failing at once (liveness, ICMP,
#             path), the probe with and without its shared ICMP socket, inside
#             a network namespace it creates (root only; skipped otherwise)
# and prints one table (also written to OUT/table.md). --quick is the ctest
# smoke: every piece for a second or two, small sizes; figures mean nothing.
# Every process started here is stopped on exit; every load is bounded in time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
BUILD=$ROOT/build-bench
OUT=""
SKIP_BUILD=0
ONLY=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --build-dir) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n 2,26p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$BUILD/bench-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$BUILD/bench
PROBE=$BUILD/probe/parallax-probe
COLLECTOR=$BUILD/collector/parallax-collector
BLACKBOX=$(command -v prometheus-blackbox-exporter || true)
HZ=$(getconf CLK_TCK)
source "$ROOT/bench/lib.sh"
source "$ROOT/bench/table.sh"

if ((!SKIP_BUILD)) && ((!QUICK)); then
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$BUILD" --target parallax-bench -j2 >/dev/null
fi
for b in "$PROBE" "$COLLECTOR" "$BIN/parallax-bench-listener" "$BIN/parallax-bench-ceiling" \
         "$BIN/parallax-bench-http" "$BIN/parallax-bench-loadgen" "$BIN/parallax-bench-micro"; do
  [[ -x $b ]] || [[ -n $ONLY ]] || { echo "run.sh: $b is not built (cmake --build $BUILD --target parallax-bench)" >&2; exit 1; }
done

: >"$OUT/results.tsv"
trap stop_all EXIT

if ((QUICK)); then
  W=1 WARM=1 C_LIST="8" BB_LIST="8" SAT_TARGETS=200 SAT_INTERVAL=200ms SAT_TIMEOUT=150ms
  SUS_TARGETS=200 SUS_INTERVAL=200ms SUS_TIMEOUT=150ms
  FP_TARGETS=400 FP_INTERVAL=2s FP_TIMEOUT=1500ms FP_WARM=3 FP_WINDOW=2 FP20_TARGETS=400
  ING_STREAMS=4 ING_RATE=2000 ING_SECONDS=2 ING_TARGETS=100
  SCALE_TARGETS="" SCALE_STREAMS="" SCALE_TIMEOUTS=""
  MICRO_ARGS=(--benchmark_filter='Banner|Encode|Diagnose/1000/10/|Render.*/10/100/|IngestResults'
              --benchmark_min_time=0.01)
else
  W=10 WARM=4 C_LIST="64 256" BB_LIST="8 64 256" SAT_TARGETS=20000 SAT_INTERVAL=1s SAT_TIMEOUT=900ms
  # A load the probe runs on time on 2 shared cores (late p99 < 50 ms); SUS_TARGETS overrides.
  SUS_TARGETS=${SUS_TARGETS:-5000} SUS_INTERVAL=1s SUS_TIMEOUT=900ms
  FP_TARGETS=10000 FP_INTERVAL=10s FP_TIMEOUT=9900ms FP_WARM=12 FP_WINDOW=20 FP20_TARGETS=20000
  ING_STREAMS=100 ING_RATE=150000 ING_SECONDS=15 ING_TARGETS=1000
  SCALE_TARGETS="1000 5000 10000" SCALE_STREAMS="10 100 300" SCALE_TIMEOUTS="1s 5s 9s"
  MICRO_ARGS=()
fi

echo "== bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), results in $OUT"
start_listener 8 8 2
BANNER_PORTS=$(ports_csv banner)
SILENT_PORTS=$(ports_csv silent)
REFUSED_PORTS=$(ports_csv refused)

section_failing() {
  if [[ $(id -u) != 0 ]]; then
    record failing.skipped "\"needs root (a network namespace and nftables)\""
    return
  fi
  local quick=()
  ((QUICK)) && quick=(--quick)
  PROBE_BIN=$PROBE COLLECTOR_BIN=$COLLECTOR bash "$ROOT/bench/failing.sh" "${quick[@]}" --out "$OUT"
}

# --quick leaves failing out: ctest runs it on its own (failing_smoke).
DEFAULT_SECTIONS="micro checks footprint ingest ingest_pg scaling failing"
((QUICK)) && DEFAULT_SECTIONS="micro checks footprint ingest ingest_pg scaling"
for s in ${ONLY:-$DEFAULT_SECTIONS}; do
  "section_$s"
done

print_table | tee "$OUT/table.md"
if [[ -n $ONLY ]]; then exit 0; fi

# Every piece must have produced work: the smoke fails when one did not.
failed=0
for k in ceiling.c${C_LIST%% *}.checks_per_s ceiling.refused.checks_per_s probe.sat.checks_per_s \
         probe.sus.checks_per_s ceiling.paced.checks_per_s \
         probe.sat.stored_per_s footprint.checks_per_s ingest.max.acked_per_s ingest_pg.acked_per_s \
         micro.BM_BannerParseOneRead.cpu_ms micro.BM_Diagnose_1000_10_real_time.real_ms \
         micro.BM_RenderMetrics_10_100_real_time.real_ms; do
  v=$(get "$k")
  if [[ $v == - ]] || awk -v v="$v" 'BEGIN {exit !(v + 0 <= 0)}'; then
    echo "run.sh: $k = $v: that part of the suite did not work" >&2
    failed=1
  fi
done
if [[ $(get blackbox.skipped) == - ]] && [[ $(get blackbox.c${BB_LIST%% *}.checks_per_s) == 0 ]]; then
  echo "run.sh: blackbox_exporter answered no probe successfully" >&2
  failed=1
fi
exit $failed
