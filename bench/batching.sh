#!/usr/bin/env bash
# Batching: results per batch and collector fsyncs per 1,000 stored results
# for a probe at a moderate rate, with and without --batch-linger.
#
# Usage: bench/batching.sh BUILD_DIR [TARGETS] [INTERVAL] [SECONDS] [LINGER...]
#   e.g. bench/batching.sh build 1000 1s 20 0ms 200ms
# Runs the real parallax-collector and parallax-probe on loopback against
# parallax-bench-listener banner ports; counts fdatasync/fsync of the
# collector with strace -f -c over the window and the probe's batches from its
# "sent N results in B batches" line. Prints one line per linger.
# PROBE_BIN / COLLECTOR_BIN override the binaries (to compare with another build).
set -euo pipefail
BUILD=${1:?usage: batching.sh BUILD_DIR [TARGETS] [INTERVAL] [SECONDS] [LINGER...]}
TARGETS=${2:-1000}
INTERVAL=${3:-1s}
WINDOW=${4:-20}
shift $(( $# < 4 ? $# : 4 ))
LINGERS=("$@")
((${#LINGERS[@]})) || LINGERS=(0ms 200ms)
PROBE=${PROBE_BIN:-$BUILD/probe/parallax-probe}
COLLECTOR=${COLLECTOR_BIN:-$BUILD/collector/parallax-collector}
LISTENER=$BUILD/bench/parallax-bench-listener
command -v strace >/dev/null || { echo "batching.sh: needs strace" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/parallax-batching.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

"$LISTENER" --banner 8 --silent 0 --refused 0 --ports-file "$OUT/ports" --stats-file "$OUT/stats" \
  --max-seconds 3600 & PIDS+=($!)
for _ in $(seq 1 100); do [[ -s "$OUT/stats" ]] && break; sleep 0.1; done
mapfile -t PORTS < <(awk '$1 == "banner" {for (i = 2; i <= NF; i++) print $i}' "$OUT/ports")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for linger in "${LINGERS[@]}"; do
  dir=$OUT/$linger
  mkdir -p "$dir"
  grpc=$(free_port) metrics=$(free_port)
  {
    echo "listen: 127.0.0.1:$grpc"
    echo "metrics_listen: 127.0.0.1:$metrics"
    echo "storage: {path: $dir/parallax.db}"
    echo "interval: $INTERVAL"
    echo "timeout: 500ms"
    echo "targets:"
    for ((i = 0; i < TARGETS; i++)); do
      echo "  - {name: t$i, host: 127.0.0.1, port: ${PORTS[i % ${#PORTS[@]}]}}"
    done
  } >"$dir/collector.yaml"
  strace -f -c -e trace=fdatasync,fsync -o "$dir/strace" \
    "$COLLECTOR" --config "$dir/collector.yaml" --insecure 2>"$dir/collector.log" & col=$!
  PIDS+=($col)
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$metrics/metrics" >/dev/null && break; sleep 0.1; done
  linger_args=(--batch-linger "$linger")
  "$PROBE" --help 2>/dev/null | grep -q -- --batch-linger || linger_args=()
  state_args=(--state-dir "$dir/probe-state")
  "$PROBE" --help 2>/dev/null | grep -q -- --state-dir || state_args=()
  "$PROBE" --collector "127.0.0.1:$grpc" --name bench --insecure "${state_args[@]}" \
    "${linger_args[@]}" 2>"$dir/probe.log" & probe=$!
  PIDS+=($probe)
  sleep "$WINDOW"
  kill -TERM "$probe"; wait "$probe" || true
  # SIGTERM to the collector itself: strace then writes its summary and exits.
  kill -TERM "$(pgrep -P "$col")" || true
  wait "$col" || true
  stored=$(sqlite3 "$dir/parallax.db" 'select count(*) from results')
  syncs=$(awk '$NF == "fdatasync" || $NF == "fsync" {n += $4} END {print n + 0}' "$dir/strace")
  batches=$(sed -n 's/.*sent \([0-9]*\) results in \([0-9]*\) batches.*/\1 \2/p' "$dir/probe.log")
  per_batch=-
  if [[ -n "$batches" ]]; then per_batch=$(awk -v s="${batches% *}" -v b="${batches#* }" 'BEGIN {printf "%.1f", s / b}'); fi
  printf 'linger=%s targets=%s interval=%s window=%ss stored=%s collector_syncs=%s syncs_per_1000=%s results_per_batch=%s\n' \
    "${linger_args[1]:-none}" "$TARGETS" "$INTERVAL" "$WINDOW" "$stored" "$syncs" \
    "$(awk -v s="$syncs" -v n="$stored" 'BEGIN {printf "%.1f", n ? s * 1000 / n : 0}')" "$per_batch"
done
