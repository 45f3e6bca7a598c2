#!/usr/bin/env bash
# fsyncs per 1,000 stored results: a real collector under strace while
# parallax-bench-loadgen drives it at a given rate (issue 14). Compares
# collector binaries side by side (e.g. before and after a change).
#
#   bench/fsync.sh [--build-dir DIR] [--seconds S] [--streams N]
#                  [--flush-ms "0 200"] [--rates "1000 10000"] [COLLECTOR_BIN...]
#
# COLLECTOR_BIN defaults to DIR/collector/parallax-collector. --flush-ms 0
# sends a batch as soon as a result is owed (the probe before its linger),
# 200 is the probe's linger. Prints one line per binary x rate x flush:
#   fsync bin=B rate=R flush_ms=F acked=N fsyncs=N fsyncs_per_1000=X
# Loopback only; every process started here is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build SECONDS_=20 STREAMS=100 FLUSHES="0 200" RATES="1000 10000"
BINS=()
while (($#)); do
  case $1 in
    --build-dir) BUILD=$2; shift ;;
    --seconds) SECONDS_=$2; shift ;;
    --streams) STREAMS=$2; shift ;;
    --flush-ms) FLUSHES=$2; shift ;;
    --rates) RATES=$2; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    -*) echo "fsync.sh: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
    *) BINS+=("$1") ;;
  esac
  shift
done
((${#BINS[@]})) || BINS=("$BUILD/collector/parallax-collector")
LOADGEN=$BUILD/bench/parallax-bench-loadgen
command -v strace >/dev/null || { echo "fsync.sh: needs strace (apt-get install strace)" >&2; exit 1; }
# Exit 77 (ctest: skipped) where ptrace is not allowed (some containers).
strace -f --seccomp-bpf -e trace=fdatasync -o /dev/null true 2>/dev/null ||
  { echo "fsync.sh: strace cannot trace here (ptrace not permitted)" >&2; exit 77; }
WORK=$(mktemp -d /tmp/parallax-fsync.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for bin in "${BINS[@]}"; do
  for rate in $RATES; do
    for flush in $FLUSHES; do
      rm -f "$WORK"/parallax.db* "$WORK/collector.log" "$WORK/strace.out"
      {
        echo "listen: 127.0.0.1:0"
        echo "metrics_listen: 127.0.0.1:0"
        echo "storage: {path: $WORK/parallax.db, retention: 0s}"
        echo "targets:"
        for ((i = 0; i < 100; i++)); do echo "  - {name: t$i, host: 127.0.0.1, port: 22}"; done
      } >"$WORK/collector.yaml"
      # Under strace from the start: with --seccomp-bpf only the counted
      # syscalls stop the collector (attaching with -p would stop on all).
      strace -f --seccomp-bpf -e trace=fdatasync,fsync -c -o "$WORK/strace.out" \
        "$bin" --config "$WORK/collector.yaml" --insecure 2>"$WORK/collector.log" &
      st=$!
      PIDS+=("$st")
      for ((i = 0; i < 200; i++)); do grep -q "metrics on" "$WORK/collector.log" && break; sleep 0.1; done
      col=$(pgrep -P "$st" | head -1 || true)
      [[ -n $col ]] || { echo "fsync.sh: $bin did not start:" >&2; cat "$WORK/collector.log" >&2; exit 1; }
      port=$(sed -n 's/.*gRPC on [^ ]* (port \([0-9]*\),.*/\1/p' "$WORK/collector.log" | head -1)
      line=$("$LOADGEN" --collector "127.0.0.1:$port" --streams "$STREAMS" --rate "$rate" \
               --seconds "$SECONDS_" --targets 100 --flush-ms "$flush" --prefix fs) || true
      # Counted from start-up to shutdown: a few fsyncs of schema and flush too.
      kill -TERM "$col"; wait "$st" 2>/dev/null || true
      acked=$(tr ' ' '\n' <<<"$line" | awk -F= '$1 == "acked" {print $2}')
      fsyncs=$(awk '$NF == "fdatasync" || $NF == "fsync" {n += $4} END {print n + 0}' "$WORK/strace.out")
      echo "fsync bin=$bin rate=$rate flush_ms=$flush acked=$acked fsyncs=$fsyncs" \
           "fsyncs_per_1000=$(awk -v f="$fsyncs" -v a="$acked" 'BEGIN {printf "%.1f", a ? f * 1000 / a : 0}')" \
           "ack_p50_ms=$(tr ' ' '\n' <<<"$line" | awk -F= '$1 == "ack_p50_ms" {print $2}')"
    done
  done
done
