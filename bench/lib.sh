# Helpers of bench/run.sh (sourced): processes, /proc sampling, configs, and
# one function per section. Results go to $OUT/results.tsv as "key<TAB>value".

PIDS=()

stop_pid() {  # pid: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  PIDS=()
}

wait_for() {  # seconds command...: polls every 0.1 s
  local n=$(($1 * 10)) i
  shift
  for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}

cpu_s() { awk -v hz="$HZ" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
now_s() { date +%s.%N; }
calc() { awk "BEGIN {printf \"%.${2:-3}f\", $1}"; }
record() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/results.tsv"; echo "   $1 = $2"; }
get() { awk -F'\t' -v k="$1" '$1 == k {v = $2} END {print (v == "" ? "-" : v)}' "$OUT/results.tsv"; }
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# --- the banner listener ----------------------------------------------------

start_listener() {  # banner silent refused
  rm -f "$OUT/ports" "$OUT/stats"
  "$BIN/parallax-bench-listener" --banner "$1" --silent "$2" --refused "$3" \
    --ports-file "$OUT/ports" --stats-file "$OUT/stats" --max-seconds 3600 &
  LISTENER_PID=$!
  PIDS+=("$LISTENER_PID")
  wait_for 10 test -s "$OUT/stats" || { echo "run.sh: the listener did not start" >&2; exit 1; }
}
ports_csv() { awk -v k="$1" '$1 == k {$1 = ""; print}' "$OUT/ports" | xargs | tr ' ' ','; }
accepted() { awk '{print $2}' "$OUT/stats"; }

# --- the collector and the probe ------------------------------------------------

# write_config FILE TARGETS INTERVAL TIMEOUT SILENT_TARGETS: TARGETS targets on
# 127.0.0.1, the last SILENT_TARGETS of them on silent ports, the rest on
# banner ports (many target names on a few ports). storage.compaction is
# $COMPACTION, default off: probe_run reads every check's row; the ingest
# sections run the collector's default, on.
write_config() {
  local file=$1 n=$2 interval=$3 timeout=$4 silent=$5 dir
  dir=$(dirname "$file")
  {
    echo "listen: 127.0.0.1:0"
    echo "metrics_listen: 127.0.0.1:0"
    echo "storage: {path: $dir/parallax.db, retention: 0s, compaction: ${COMPACTION:-off}}"
    echo "interval: $interval"
    echo "timeout: $timeout"
    echo "liveness_ports: []"
    # The bench listener sends an identification line and no KEXINIT: a key
    # exchange would hold each connection to the deadline. Its cost is
    # bench/hostkey.sh's (docs/PERFORMANCE.md), once per target per 10 min.
    echo "hostkey_interval: 0"
    echo "diagnosis: {evaluate_every: 10s}"
    echo "targets:"
    awk -v n="$n" -v silent="$silent" -v bp="$BANNER_PORTS" -v sp="$SILENT_PORTS" 'BEGIN {
      nb = split(bp, b, ","); ns = split(sp, s, ",")
      for (i = 0; i < n; i++) {
        port = (i < n - silent) ? b[i % nb + 1] : s[i % ns + 1]
        printf "  - {name: t%d, host: 127.0.0.1, port: %d}\n", i, port
      }
    }'
  } >"$file"
}

start_collector() {  # dir (holding collector.yaml)
  local dir=$1
  "$COLLECTOR" --config "$dir/collector.yaml" --insecure 2>"$dir/collector.log" &
  COL_PID=$!
  PIDS+=("$COL_PID")
  wait_for 20 grep -q "metrics on" "$dir/collector.log" ||
    { echo "run.sh: the collector did not start:" >&2; cat "$dir/collector.log" >&2; exit 1; }
  COL_GRPC=$(sed -n 's/.*gRPC on [^ ]* (port \([0-9]*\),.*/\1/p' "$dir/collector.log" | head -1)
  COL_METRICS=$(sed -n 's/.*metrics on [^ ]* (port \([0-9]*\)).*/\1/p' "$dir/collector.log" | head -1)
}

stored() {
  curl -s --max-time 10 "http://127.0.0.1:$COL_METRICS/metrics" |
    awk '$1 == "parallax_ingest_results_total{result=\"stored\"}" {printf "%d", $2}'
}

# probe_run KEY TARGETS INTERVAL TIMEOUT SILENT WARM WINDOW: a real collector
# and parallax-probe; measures the probe over WINDOW seconds after WARM.
probe_run() {
  local key=$1 n=$2 interval=$3 timeout=$4 silent=$5 warm=$6 window=$7
  local dir=$OUT/$key
  rm -rf "$dir" && mkdir -p "$dir"
  write_config "$dir/collector.yaml" "$n" "$interval" "$timeout" "$silent"
  start_collector "$dir"
  "$PROBE" --collector "127.0.0.1:$COL_GRPC" --name bench-probe --label network=loopback \
    --insecure --max-in-flight 20000 --state-dir "$dir/probe-state" \
    --allow-loopback --min-interval 100ms --max-targets 1000000 --max-connects-per-second 10000000 \
    2>"$dir/probe.log" &
  local probe=$!
  PIDS+=("$probe")
  sleep "$warm"
  local t0 c0 a0 s0 t1 c1 a1 s1 ms0
  ms0=$(date +%s%3N)
  t0=$(now_s) c0=$(cpu_s "$probe") a0=$(accepted) s0=$(stored)
  sleep "$window"
  t1=$(now_s) c1=$(cpu_s "$probe") a1=$(accepted) s1=$(stored)
  local dt checks
  dt=$(calc "$t1 - $t0")
  checks=$((a1 - a0))
  record "$key.checks_per_s" "$(calc "$checks / $dt" 0)"
  record "$key.stored_per_s" "$(calc "($s1 - $s0) / $dt" 0)"
  record "$key.cpu_per_1000" "$(calc "($c1 - $c0) * 1000 / ($checks > 0 ? $checks : 1)" 4)"
  record "$key.cpu_util" "$(calc "($c1 - $c0) / $dt" 2)"
  record "$key.rss_mb" "$(calc "$(status_kb "$probe" VmRSS) / 1024" 1)"
  record "$key.hwm_mb" "$(calc "$(status_kb "$probe" VmHWM) / 1024" 1)"
  record "$key.threads" "$(status_kb "$probe" Threads)"
  record "$key.collector_cpu_util" "$(calc "$(cpu_s "$COL_PID") / ($t1 - $t0 + $warm)" 2)"
  stop_pid "$probe"
  stop_pid "$COL_PID"
  # Lateness of the checks that started in the window, from the stored results.
  local late
  late=$(sqlite3 "$dir/parallax.db" "
    WITH w AS (SELECT late_us FROM results WHERE ts_ms >= $ms0 ORDER BY late_us)
    SELECT count(*), coalesce(max(late_us), 0),
           coalesce((SELECT late_us FROM w LIMIT 1 OFFSET (SELECT count(*) * 99 / 100 FROM w)), 0),
           (SELECT count(*) FROM results WHERE ts_ms >= $ms0 AND outcome = 8),
           (SELECT count(*) FROM results WHERE ts_ms >= $ms0 AND outcome NOT IN (1, 8))
    FROM w;")
  IFS='|' read -r lc lmax lp99 ltimeouts lother <<<"$late"
  record "$key.late_max_ms" "$(calc "$lmax / 1000" 1)"
  record "$key.late_p99_ms" "$(calc "$lp99 / 1000" 1)"
  record "$key.banner_timeouts" "$ltimeouts"
  record "$key.other_failures" "$lother"
  record "$key.results_in_window" "$lc"
}

# --- sections ------------------------------------------------------------------

section_micro() {
  echo "== micro: Google Benchmark"
  "$BIN/parallax-bench-micro" "${MICRO_ARGS[@]}" --benchmark_out="$OUT/micro.json" \
    --benchmark_out_format=json 2>&1 | tee "$OUT/micro.txt" | grep '^BM_' || true
  # name -> real time in ms (and CPU time), from the console output.
  local name key
  for name in BM_BannerParseOneRead BM_EncodeResultBatch/1000 BM_Diagnose/1000/10/real_time \
              BM_Diagnose/10000/100/real_time BM_RenderMetrics/10/100/real_time \
              BM_RenderMetrics/100/1000/real_time BM_RenderMetricsTextSerializer/100/1000/real_time BM_CollectMetrics/100/1000/real_time \
              BM_IngestResultsIntoState BM_PairMemory/iterations:1 \
              BM_DiagnoseAllOk/10000/100/real_time BM_LiveStateSnapshot/100/10000/real_time; do
    key=micro.${name//\//_}
    awk -v n="$name" -v k="$key" '$1 == n {
        f = ($3 == "ns") ? 1e-6 : ($3 == "us") ? 1e-3 : ($3 == "s") ? 1e3 : 1
        g = ($5 == "ns") ? 1e-6 : ($5 == "us") ? 1e-3 : ($5 == "s") ? 1e3 : 1
        printf "%s.real_ms\t%.4g\n%s.cpu_ms\t%.4g\n", k, $2 * f, k, $4 * g
        for (i = 7; i <= NF; i++) if ($i ~ /^series=/) { split($i, s, "="); printf "%s.series\t%s\n", k, s[2] }
        for (i = 7; i <= NF; i++) if ($i ~ /^bytes_per_pair=/) { split($i, s, "="); printf "%s.bytes_per_pair\t%s\n", k, s[2] }
      }' "$OUT/micro.txt" >>"$OUT/results.tsv"
  done
}

section_checks() {
  echo "== checks: C ceiling, parallax-probe, blackbox_exporter against the same listener"
  local c line
  for c in $C_LIST; do
    line=$("$BIN/parallax-bench-ceiling" -p "$BANNER_PORTS" -c "$c" -d "$W")
    echo "   ceiling c=$c: $line"
    record "ceiling.c$c.checks_per_s" "$(calc "$(field "$line" ok) / $(field "$line" seconds)" 0)"
    record "ceiling.c$c.cpu_per_1000" "$(calc "$(field "$line" cpu_s) * 1000 / ($(field "$line" checks) + 1)" 4)"
    record "ceiling.c$c.rss_mb" "$(calc "$(field "$line" rss_kb) / 1024" 1)"
  done
  c=${C_LIST%% *}
  line=$("$BIN/parallax-bench-ceiling" -p "$BANNER_PORTS" -c "$c" -d "$W" -w)
  echo "   ceiling c=$c, SSH-client manners (-w): $line"
  record "ceiling.w$c.checks_per_s" "$(calc "$(field "$line" ok) / $(field "$line" seconds)" 0)"
  record "ceiling.w$c.cpu_per_1000" "$(calc "$(field "$line" cpu_s) * 1000 / ($(field "$line" checks) + 1)" 4)"
  record "ceiling.w$c.rss_mb" "$(calc "$(field "$line" rss_kb) / 1024" 1)"
  line=$("$BIN/parallax-bench-ceiling" -p "$REFUSED_PORTS" -c 64 -d "$W")
  echo "   ceiling refused: $line"
  record "ceiling.refused.checks_per_s" "$(calc "$(field "$line" refused) / $(field "$line" seconds)" 0)"
  record "ceiling.refused.cpu_per_1000" "$(calc "$(field "$line" cpu_s) * 1000 / ($(field "$line" checks) + 1)" 4)"

  echo "   parallax-probe: $SAT_TARGETS targets every $SAT_INTERVAL (timeout $SAT_TIMEOUT)"
  probe_run probe.sat "$SAT_TARGETS" "$SAT_INTERVAL" "$SAT_TIMEOUT" 0 "$WARM" "$W"

  # The same work at the same rate: the probe at a load it sustains on this
  # machine, then the C client with SSH-client manners paced to the rate the
  # probe ran. Below saturation both go idle between events, so each event
  # costs a wake-up (theirs and the listener's): a saturated client never
  # pays it, which makes the saturated ceiling the wrong peer for a probe
  # running on time.
  echo "   parallax-probe: $SUS_TARGETS targets every $SUS_INTERVAL (timeout $SUS_TIMEOUT; a load it sustains)"
  probe_run probe.sus "$SUS_TARGETS" "$SUS_INTERVAL" "$SUS_TIMEOUT" 0 "$WARM" "$W"
  local rate
  rate=$(get probe.sus.checks_per_s)
  if [[ $rate != - ]] && ((rate > 0)); then
    line=$("$BIN/parallax-bench-ceiling" -p "$BANNER_PORTS" -c 16384 -r "$rate" -d "$W" -w)
    echo "   ceiling paced at $rate/s, SSH-client manners (-w -r): $line"
    record "ceiling.paced.checks_per_s" "$(calc "$(field "$line" ok) / $(field "$line" seconds)" 0)"
    record "ceiling.paced.cpu_per_1000" "$(calc "$(field "$line" cpu_s) * 1000 / ($(field "$line" checks) + 1)" 4)"
  fi

  if [[ -z $BLACKBOX ]]; then
    echo "   blackbox_exporter: not installed (apt-get install prometheus-blackbox-exporter): skipped"
    record blackbox.skipped 1
    return
  fi
  local dir=$OUT/blackbox port
  mkdir -p "$dir"
  cat >"$dir/blackbox.yml" <<'EOF'
modules:
  ssh_banner:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - expect: "^SSH-2.0-"
EOF
  # A free port can be taken by a concurrent test before the exporter binds
  # it: try a few.
  local bb="" attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    "$BLACKBOX" --config.file="$dir/blackbox.yml" --web.listen-address="127.0.0.1:$port" \
      --log.level=warn 2>"$dir/blackbox.log" &
    bb=$!
    PIDS+=("$bb")
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/metrics" && break
    stop_pid "$bb"
    bb=""
    grep -q "address already in use" "$dir/blackbox.log" || break
  done
  [[ -n "$bb" ]] ||
    { echo "run.sh: blackbox_exporter did not start" >&2; cat "$dir/blackbox.log" >&2; exit 1; }
  local c0 c1 best_rate=0 best_cpu=0
  for c in $BB_LIST; do
    c0=$(cpu_s "$bb")
    line=$("$BIN/parallax-bench-http" -s "$port" -p "$BANNER_PORTS" -c "$c" -d "$W")
    c1=$(cpu_s "$bb")
    echo "   blackbox c=$c: $line"
    local ok rate
    ok=$(field "$line" success)
    rate=$(calc "$ok / $(field "$line" seconds)" 0)
    record "blackbox.c$c.checks_per_s" "$rate"
    record "blackbox.c$c.cpu_per_1000" "$(calc "($c1 - $c0) * 1000 / ($ok + 1)" 4)"
    record "blackbox.c$c.failed" "$(field "$line" failed)"
  done
  record blackbox.hwm_mb "$(calc "$(status_kb "$bb" VmHWM) / 1024" 1)"
  record blackbox.threads "$(status_kb "$bb" Threads)"
  stop_pid "$bb"
}

free_port() {  # a port nobody listens on now (the listener's refused sockets are bound, not free)
  local p
  # Below Linux's ephemeral range (32768-60999), so no outgoing connection
  # holds it as its local port.
  for ((p = 10000 + RANDOM % 20000; p < 32768; p++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

section_footprint() {
  local silent=$((FP_TARGETS / 2))
  echo "== footprint: parallax-probe, $FP_TARGETS targets every $FP_INTERVAL, $silent silent (timeout $FP_TIMEOUT)"
  probe_run footprint "$FP_TARGETS" "$FP_INTERVAL" "$FP_TIMEOUT" "$silent" "$FP_WARM" "$FP_WINDOW"
  # Issue 10: peak RSS with 20,000 targets (every 10 s, all answering; the
  # saturating run probe.sat has 20,000 every 1 s).
  echo "== footprint: parallax-probe, $FP20_TARGETS targets every 10s, all answering"
  probe_run footprint.20k "$FP20_TARGETS" 10s 5s 0 "$FP_WARM" "$FP_WINDOW"
}

# ingest_run KEY STREAMS RATE SECONDS TARGETS
ingest_run() {
  local key=$1 streams=$2 rate=$3 seconds=$4 targets=$5
  local dir=$OUT/$key
  rm -rf "$dir" && mkdir -p "$dir"
  COMPACTION=on write_config "$dir/collector.yaml" "$targets" 10s 5s 0
  start_collector "$dir"
  local rss0 c0 c1 line
  rss0=$(status_kb "$COL_PID" VmRSS)
  c0=$(cpu_s "$COL_PID")
  line=$("$BIN/parallax-bench-loadgen" --collector "127.0.0.1:$COL_GRPC" --streams "$streams" \
           --rate "$rate" --seconds "$seconds" --targets "$targets" --prefix lg) || true
  c1=$(cpu_s "$COL_PID")
  echo "   $key: $line"
  local acked pairs
  acked=$(field "$line" acked)
  pairs=$((streams * targets))
  record "$key.offered_per_s" "$rate"
  record "$key.acked_per_s" "$(field "$line" acked_per_s)"
  record "$key.ack_p50_ms" "$(field "$line" ack_p50_ms)"
  record "$key.ack_p99_ms" "$(field "$line" ack_p99_ms)"
  record "$key.connected" "$(field "$line" connected)/$streams"
  record "$key.cpu_per_1000" "$(calc "($c1 - $c0) * 1000 / (${acked:-0} + 1)" 4)"
  record "$key.cpu_util" "$(calc "($c1 - $c0) / $(field "$line" seconds)" 2)"
  record "$key.hwm_mb" "$(calc "$(status_kb "$COL_PID" VmHWM) / 1024" 1)"
  record "$key.rss_kb" "$(status_kb "$COL_PID" VmRSS)"
  record "$key.pairs" "$pairs"
  record "$key.bytes_per_pair" "$(calc "($(status_kb "$COL_PID" VmRSS) - $rss0) * 1024 / $pairs" 0)"
  record "$key.threads" "$(status_kb "$COL_PID" Threads)"
  stop_pid "$COL_PID"
}

section_ingest() {
  echo "== ingest: $ING_STREAMS synthetic probe streams into a real collector"
  ingest_run ingest.max "$ING_STREAMS" "$ING_RATE" "$ING_SECONDS" "$ING_TARGETS"
  if ((!QUICK)); then
    ingest_run ingest.steady "$ING_STREAMS" 20000 "$ING_SECONDS" "$ING_TARGETS"
  fi
}

# --- PostgreSQL (issue 16): two collectors on one server of the bench's own ---

# start_postgres DIR: initdb into DIR/data (as nobody when root: PostgreSQL
# refuses to run as root) and a server on a free loopback port with the
# default durability (fsync on, synchronous_commit on); creates database
# "parallax". Sets PG_PORT and PG_PID.
start_postgres() {
  local dir=$1 bin run=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -x $bin/initdb ]] || { echo "run.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  PG_BIN=$bin
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then
    chmod 755 "$dir"
    chown nobody "$dir"
    run=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1 ||
    { echo "run.sh: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
  PG_PORT=$(free_port)
  "${run[@]}" "$bin/postgres" -D "$dir/data" -p "$PG_PORT" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c max_connections=50 -c shared_buffers=128MB >"$dir/postgres.log" 2>&1 &
  PG_PID=$!
  PIDS+=("$PG_PID")
  wait_for 30 "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" ||
    { echo "run.sh: PostgreSQL did not start:" >&2; cat "$dir/postgres.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE parallax" >/dev/null
}

# CPU seconds of a process and its children that are still running (the
# PostgreSQL server: one backend per connection).
tree_cpu_s() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1"); do total=$(calc "$total + $(cpu_s "$p" 2>/dev/null || echo 0)"); done
  echo "$total"
}

# ingest_pg: ING_STREAMS synthetic probe streams, half to each of two
# collectors sharing one PostgreSQL database (issue 16's bar: >= 50,000
# results/s committed before ack on 2 cores), beside section ingest's SQLite.
section_ingest_pg() {
  echo "== ingest_pg: $ING_STREAMS synthetic probe streams across 2 collectors on one PostgreSQL"
  local dir=$OUT/ingest_pg pgdir
  rm -rf "$dir" && mkdir -p "$dir"
  pgdir=$(mktemp -d /tmp/parallax-bench-pg.XXXXXX)
  start_postgres "$pgdir"
  local c pids=() grpc=() half=$((ING_STREAMS / 2)) rate=$((ING_RATE / 2))
  for c in a b; do
    mkdir -p "$dir/$c"
    COMPACTION=on write_config "$dir/$c/collector.yaml" "$ING_TARGETS" 10s 5s 0
    sed -i "s|^storage: .*|storage: {driver: postgres, dsn: \"host=127.0.0.1 port=$PG_PORT dbname=parallax user=postgres\", retention: 0s}|" \
      "$dir/$c/collector.yaml"
    start_collector "$dir/$c"
    pids+=("$COL_PID")
    grpc+=("$COL_GRPC")
  done
  local c0 c1 pg0 pg1
  c0=$(calc "$(cpu_s "${pids[0]}") + $(cpu_s "${pids[1]}")")
  pg0=$(tree_cpu_s "$PG_PID")
  "$BIN/parallax-bench-loadgen" --collector "127.0.0.1:${grpc[0]}" --streams "$half" --rate "$rate" \
    --seconds "$ING_SECONDS" --targets "$ING_TARGETS" --prefix lga >"$dir/a.out" 2>"$dir/a.err" &
  local la=$!
  "$BIN/parallax-bench-loadgen" --collector "127.0.0.1:${grpc[1]}" --streams "$half" --rate "$rate" \
    --seconds "$ING_SECONDS" --targets "$ING_TARGETS" --prefix lgb >"$dir/b.out" 2>"$dir/b.err" &
  local lb=$!
  wait "$la" || true
  wait "$lb" || true
  c1=$(calc "$(cpu_s "${pids[0]}") + $(cpu_s "${pids[1]}")")
  pg1=$(tree_cpu_s "$PG_PID")
  local a b acked secs stored
  a=$(tail -1 "$dir/a.out")
  b=$(tail -1 "$dir/b.out")
  echo "   collector a: $a"
  echo "   collector b: $b"
  acked=$(($(field "$a" acked) + $(field "$b" acked)))
  secs=$(maxof "$(field "$a" seconds)" "$(field "$b" seconds)")
  stored=$("$PG_BIN/psql" -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres -d parallax \
    -c "SELECT COALESCE(SUM(count), 0) FROM runs")  # compaction on: every stored check is in a run
  record ingest_pg.offered_per_s "$ING_RATE"
  record ingest_pg.acked_per_s "$(calc "$acked / $secs" 0)"
  record ingest_pg.ack_p99_ms "$(maxof "$(field "$a" ack_p99_ms)" "$(field "$b" ack_p99_ms)")"
  record ingest_pg.connected "$(($(field "$a" connected) + $(field "$b" connected)))/$ING_STREAMS"
  record ingest_pg.stored "$stored"
  record ingest_pg.acked "$acked"
  record ingest_pg.collectors_cpu_per_1000 "$(calc "($c1 - $c0) * 1000 / ($acked + 1)" 4)"
  record ingest_pg.postgres_cpu_per_1000 "$(calc "($pg1 - $pg0) * 1000 / ($acked + 1)" 4)"
  stop_pid "${pids[0]}"
  stop_pid "${pids[1]}"
  stop_pid "$PG_PID"
  rm -rf "$pgdir"
}

section_scaling() {
  local n s t
  for n in $SCALE_TARGETS; do
    echo "== scaling: parallax-probe with $n targets every 1s"
    probe_run "scale.targets.$n" "$n" 1s 500ms 0 "$WARM" "$W"
  done
  for s in $SCALE_STREAMS; do
    echo "== scaling: collector with $s probe streams, 20,000 results/s in all"
    ingest_run "scale.streams.$s" "$s" 20000 "$W" 1000
  done
  for t in $SCALE_TIMEOUTS; do
    echo "== scaling: parallax-probe, 5,000 silent targets every 10s, timeout $t"
    probe_run "scale.timeout.$t" 5000 10s "$t" 5000 12 "$W"
  done
}
