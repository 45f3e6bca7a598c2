#!/usr/bin/env bash
# Soak: N synthetic probes (parallax-bench-loadgen --reconnect) x T targets
# stream into a real collector while it is killed with SIGKILL three times
# and another process holds SQLite's write lock past the collector's busy
# wait once. Afterwards every result each probe produced must be stored
# exactly once (issue 14: 0 lost, 0 duplicated).
#
#   bench/soak.sh [--quick] [--build-dir DIR] [--out DIR]
#                 [--streams N] [--targets N] [--rate R] [--seconds S]
#
# Defaults: 100 streams x 1,000 targets at 10,000 results/s (every target
# every 10 s) for 600 s. --quick (the ctest `soak` smoke): 20 x 100 at
# 2,000 results/s for 60 s. Prints one line:
#   soak streams=N targets=N seconds=S produced=N stored=N distinct=N lost=N
#        duplicated=N kills=3 busy_episodes=1 reconnects=N failed_transactions=N
# and exits 1 if anything was lost or stored twice. Loopback only; every
# process started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=""
STREAMS=100 TARGETS=1000 RATE=10000 SECONDS_=600
while (($#)); do
  case $1 in
    --quick) STREAMS=20 TARGETS=100 RATE=2000 SECONDS_=60 ;;
    --build-dir) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --streams) STREAMS=$2; shift ;;
    --targets) TARGETS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --seconds) SECONDS_=$2; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
  shift
done
COLLECTOR=$BUILD/collector/parallax-collector
LOADGEN=$BUILD/bench/parallax-bench-loadgen
for b in "$COLLECTOR" "$LOADGEN"; do
  [[ -x $b ]] || { echo "soak.sh: $b is not built (ninja -C $BUILD parallax-collector parallax-bench-loadgen)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "soak.sh: needs the sqlite3 command (apt-get install sqlite3)" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d /tmp/parallax-soak.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DB=$OUT/parallax.db
rm -f "$DB" "$DB-wal" "$DB-shm"

PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT

free_port() {  # below the ephemeral range, nobody listening now
  local p
  for ((p = 10000 + RANDOM % 20000; p < 32768; p++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
GRPC=$(free_port)
METRICS=$(free_port)
{
  echo "listen: 127.0.0.1:$GRPC"
  echo "metrics_listen: 127.0.0.1:$METRICS"
  echo "storage: {path: $DB, retention: 0s, busy_timeout: 500ms, busy_retry: 1s, compaction: off}"
  echo "interval: 10s"
  echo "timeout: 5s"
  echo "diagnosis: {evaluate_every: 10s}"
  echo "targets:"
  for ((i = 0; i < TARGETS; i++)); do echo "  - {name: t$i, host: 127.0.0.1, port: 22}"; done
} >"$OUT/collector.yaml"

STARTS=0
COL_PID=""
start_collector() {
  STARTS=$((STARTS + 1))
  "$COLLECTOR" --config "$OUT/collector.yaml" --insecure 2>"$OUT/collector.$STARTS.log" &
  COL_PID=$!
  PIDS+=("$COL_PID")
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q "metrics on" "$OUT/collector.$STARTS.log" && return 0
    kill -0 "$COL_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak.sh: the collector did not start:" >&2
  cat "$OUT/collector.$STARTS.log" >&2
  exit 1
}

start_collector
"$LOADGEN" --collector "127.0.0.1:$GRPC" --streams "$STREAMS" --rate "$RATE" \
  --seconds "$SECONDS_" --targets "$TARGETS" --prefix soak --reconnect --drain-seconds 120 \
  >"$OUT/loadgen.out" 2>"$OUT/loadgen.err" &
LG_PID=$!
PIDS+=("$LG_PID")
T0=$(date +%s.%N)
at() {  # fraction of the run: sleep until then
  local until
  until=$(awk -v t0="$T0" -v s="$SECONDS_" -v f="$1" 'BEGIN {printf "%.3f", t0 + s * f}')
  while awk -v u="$until" -v n="$(date +%s.%N)" 'BEGIN {exit !(n < u)}'; do sleep 0.2; done
}

KILLS=0
for f in 0.2 0.4 0.6; do
  at "$f"
  kill -9 "$COL_PID"
  wait "$COL_PID" 2>/dev/null || true
  KILLS=$((KILLS + 1))
  echo "soak: kill -9 of the collector #$KILLS at $(awk -v t0="$T0" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t0}') s"
  sleep 2
  start_collector
done
# Another process holds the write lock for 4 s: longer than busy_timeout +
# busy_retry (1.5 s), so transactions fail and streams are closed.
at 0.8
echo "soak: holding the database's write lock for 4 s"
{ echo "BEGIN EXCLUSIVE;"; sleep 4; echo "COMMIT;"; } | sqlite3 -cmd ".timeout 10000" "$DB"
BUSY=1

LG_RC=0
wait "$LG_PID" || LG_RC=$?
kill -TERM "$COL_PID"
wait "$COL_PID" 2>/dev/null || true

summary=$(grep -v '^stream ' "$OUT/loadgen.out" | tail -1)
echo "soak: loadgen: $summary"
sqlite3 -separator ' ' "$DB" \
  "SELECT p.name, b.boot_id, count(*), count(DISTINCT r.seq), max(r.seq)
   FROM results r JOIN probe_boots b ON b.id = r.boot_ref JOIN probes p ON p.id = r.probe_id
   GROUP BY r.boot_ref" >"$OUT/stored.txt"
# Per stream: produced (loadgen) against stored rows, distinct seqs, max seq.
read -r produced stored distinct lost dup streams_bad < <(awk '
  FNR == NR { split($2, n, "="); split($3, b, "="); split($4, p, "=");
              key = n[2] " " b[2]; want[key] = p[2]; next }
  { key = $1 " " $2; count[key] = $3; dist[key] = $4; mx[key] = $5 }
  END {
    for (k in want) {
      P += want[k]; S += count[k]; D += dist[k]
      lost = want[k] - dist[k]; if (lost < 0) lost = 0
      L += lost; U += count[k] - dist[k]
      if (lost || count[k] != dist[k] || mx[k] != want[k]) bad++
    }
    printf "%d %d %d %d %d %d\n", P, S, D, L, U, bad
  }' <(grep '^stream ' "$OUT/loadgen.out") "$OUT/stored.txt")
failed=$(cat "$OUT"/collector.*.log | grep -c "failed, rolled back" || true)
echo "soak streams=$STREAMS targets=$TARGETS seconds=$SECONDS_ produced=$produced stored=$stored" \
     "distinct=$distinct lost=$lost duplicated=$dup kills=$KILLS busy_episodes=$BUSY" \
     "reconnects=$(tr ' ' '\n' <<<"$summary" | awk -F= '$1 == "reconnects" {print $2}')" \
     "failed_transactions=$failed"
rc=0
((LG_RC == 0)) || { echo "soak: loadgen exited $LG_RC (something never acknowledged)" >&2; rc=1; }
((produced > 0)) || { echo "soak: nothing produced" >&2; rc=1; }
((lost == 0 && dup == 0 && streams_bad == 0)) || {
  echo "soak: $streams_bad streams disagree with the database (see $OUT/stored.txt)" >&2; rc=1; }
((failed > 0)) || { echo "soak: the lock episode failed no transaction: it proved nothing" >&2; rc=1; }
((rc == 0)) && echo "soak: OK (0 lost, 0 duplicated); files in $OUT"
exit $rc
