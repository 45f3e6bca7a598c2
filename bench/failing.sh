#!/usr/bin/env bash
# The cost of many targets failing at once (issue 10, item 9): a real
# parallax-collector and parallax-probe with N targets (default 5,000) whose
# SSH port drops every SYN, so every check times out and gathers its evidence:
# one ICMP echo (answered), TCP connects to liveness ports 443 and 80 and to
# the closed port 65535 (all dropped), and one TCP path trace per target.
#
#   bench/failing.sh [--quick] [--targets N] [--build-dir DIR] [--out DIR]
#
# Side by side in one run, the same load twice:
#   shared   the probe as packaged (CAP_NET_RAW): one shared raw ICMP socket
#            per family for every ping and every ICMP error
#   fallback the probe without CAP_NET_RAW (setpriv drops it): a ping socket
#            per ping (net.ipv4.ping_group_range opened in the namespace),
#            IP_RECVERR per connect
#   before   (only with PEER_PROBE_BIN=<an older parallax-probe>) that build as
#            packaged, e.g. main before the shared receiver: a raw ICMP socket
#            per ping, at most 256 at once
# Everything runs inside a network namespace this script creates (unshare
# --net; needs root): loopback only, the drop rule is an nftables table of
# that namespace, gone with it. Every process is stopped on exit; every wait
# is bounded. Results: OUT/results.tsv (failing.*) and a table on stdout.
# Exit 1 when a run stored no result, 77 (skip) when not root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
N=5000
BUILD=$ROOT/build-bench
OUT=""
ARGS=("$@")
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --targets) N=$2; shift ;;
    --build-dir) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "failing.sh: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $(id -u) != 0 ]]; then
  echo "failing.sh: needs root (a network namespace and nftables); skipped" >&2
  exit 77
fi
if [[ ${PARALLAX_BENCH_NETNS:-} != 1 ]]; then
  exec unshare --net env PARALLAX_BENCH_NETNS=1 bash "$0" "${ARGS[@]}"
fi

OUT=${OUT:-$BUILD/bench-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PROBE=${PROBE_BIN:-$BUILD/probe/parallax-probe}
COLLECTOR=${COLLECTOR_BIN:-$BUILD/collector/parallax-collector}
HZ=$(getconf CLK_TCK)
source "$ROOT/bench/lib.sh"
trap stop_all EXIT
for b in "$PROBE" "$COLLECTOR"; do
  [[ -x $b ]] || { echo "failing.sh: $b is not built" >&2; exit 1; }
done

ip link set lo up
sysctl -qw net.ipv4.ping_group_range="0 2147483647"
# Targets live on 127.1.0.0/16: every TCP SYN to them is dropped; ICMP is not.
nft -f - <<'EOF'
table inet parallax_bench {
  chain input {
    type filter hook input priority 0;
    ip daddr 127.1.0.0/16 meta l4proto tcp drop
  }
}
EOF

if ((QUICK)); then
  N=200 INTERVAL=4s TIMEOUT=1s WINDOW=6
else
  INTERVAL=10s TIMEOUT=2s WINDOW=30
fi

write_failing_config() {  # file
  local dir
  dir=$(dirname "$1")
  {
    echo "listen: 127.0.0.1:0"
    echo "metrics_listen: 127.0.0.1:0"
    echo "storage: {path: $dir/parallax.db, retention: 0s, compaction: off}"
    echo "interval: $INTERVAL"
    echo "timeout: $TIMEOUT"
    echo "liveness_ports: [443, 80]"
    echo "closed_port: 65535"
    echo "alt_ports: []"
    echo "path_max_hops: 30"
    echo "path_budget: 3s"
    echo "diagnosis: {evaluate_every: 10s}"
    echo "targets:"
    awk -v n="$N" 'BEGIN {
      for (i = 0; i < n; i++) printf "  - {name: f%d, host: 127.1.%d.%d, port: 22}\n", i, int(i / 250), i % 250 + 1
    }'
  } >"$1"
}

# failing_run KEY PREFIX...: the probe started under PREFIX (e.g. setpriv) for
# WINDOW seconds from its start: every target's first failing check (with its
# path trace) and the rounds after.
failing_run() {
  local key=$1
  shift
  local dir=$OUT/failing.$key
  rm -rf "$dir" && mkdir -p "$dir"
  write_failing_config "$dir/collector.yaml"
  start_collector "$dir"
  local t0 t1
  t0=$(now_s)
  "$@" "${RUN_PROBE:-$PROBE}" --collector "127.0.0.1:$COL_GRPC" --name bench-probe --label network=loopback \
    --insecure --max-in-flight 20000 --state-dir "$dir/probe-state" \
    --allow-loopback --min-interval 100ms --max-targets 1000000 --max-connects-per-second 10000000 \
    2>"$dir/probe.log" &
  local probe=$!
  PIDS+=("$probe")
  sleep "$WINDOW"
  local c1 fds
  c1=$(cpu_s "$probe")
  fds=$(ls "/proc/$probe/fd" | wc -l)
  t1=$(now_s)
  local hwm threads
  hwm=$(status_kb "$probe" VmHWM)
  threads=$(status_kb "$probe" Threads)
  # Stopping sends what the probe holds: every result of the window is stored.
  stop_pid "$probe"
  stop_pid "$COL_PID"
  local n
  n=$(sqlite3 "$dir/parallax.db" "SELECT count(*) FROM results;" 2>/dev/null || echo 0)
  record "failing.$key.results" "$n"
  record "failing.$key.results_per_s" "$(calc "$n / ($t1 - $t0)" 0)"
  record "failing.$key.cpu_per_1000" "$(calc "$c1 * 1000 / ($n > 0 ? $n : 1)" 4)"
  record "failing.$key.cpu_util" "$(calc "$c1 / ($t1 - $t0)" 2)"
  record "failing.$key.hwm_mb" "$(calc "$hwm / 1024" 1)"
  record "failing.$key.threads" "$threads"
  record "failing.$key.fds_at_end" "$fds"
  local mode
  mode=$(sed -n 's/.*ICMP evidence: //p' "$dir/probe.log" | head -1)
  record "failing.$key.icmp_mode" "${mode:-(before: a raw socket per ping, at most 256)}"
}

echo "== failing: $N targets dropping SSH at once (interval $INTERVAL, timeout $TIMEOUT), ${WINDOW}s each, load $(cut -d' ' -f1-3 /proc/loadavg)"
KEYS="shared fallback"
if [[ -n ${PEER_PROBE_BIN:-} ]]; then
  RUN_PROBE=$PEER_PROBE_BIN failing_run before env
  KEYS="before $KEYS"
fi
failing_run shared env
failing_run fallback setpriv --inh-caps=-net_raw --ambient-caps=-net_raw --bounding-set=-net_raw

printf '\n| probe | ICMP evidence | results/s | CPU-s per 1,000 failing checks | CPU util | peak RSS MB | fds at end |\n|---|---|---:|---:|---:|---:|---:|\n'
for k in $KEYS; do
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$k" "$(get "failing.$k.icmp_mode")" \
    "$(get "failing.$k.results_per_s")" "$(get "failing.$k.cpu_per_1000")" \
    "$(get "failing.$k.cpu_util")" "$(get "failing.$k.hwm_mb")" "$(get "failing.$k.fds_at_end")"
done
for k in $KEYS; do
  if [[ $(get "failing.$k.results") == - || $(get "failing.$k.results") == 0 ]]; then
    echo "failing.sh: the $k run stored no result" >&2
    exit 1
  fi
done
