# The report of bench/run.sh (sourced): markdown tables from $OUT/results.tsv,
# each issue-6 target with its bar, the measured value and met / missed.

verdict() {  # value op bar: "met" or "missed (x.x× the bar)"
  local v=$1 op=$2 bar=$3
  [[ $v == - || -z $v ]] && { echo "not measured"; return; }
  awk -v v="$v" -v op="$op" -v b="$bar" 'BEGIN {
    ok = (op == "<=") ? v <= b : (op == "<") ? v < b : v >= b
    if (ok) { print "met"; exit }
    if (op == ">=") printf "missed: %.0f%% of the bar\n", 100 * v / b
    else printf "missed: %.1f× the bar\n", v / b
  }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
minof() { tr ' ' '\n' <<<"$*" | grep -v '^-$' | sort -g | head -1; }
maxof() { tr ' ' '\n' <<<"$*" | grep -v '^-$' | sort -g | tail -1; }

print_table() {
  local c k
  echo
  echo "## Checks side by side ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback$( ((QUICK)) && echo ', QUICK: figures meaningless'))"
  echo
  echo "| client | checks/s | CPU-s per 1,000 checks | peak RSS MB | threads |"
  echo "|---|---:|---:|---:|---:|"
  for c in $C_LIST; do
    echo "| C epoll ceiling, $c in flight | $(get ceiling.c$c.checks_per_s) | $(get ceiling.c$c.cpu_per_1000) | $(get ceiling.c$c.rss_mb) | 1 |"
  done
  c=${C_LIST%% *}
  echo "| C epoll ceiling + SSH-client manners (-w), $c in flight | $(get ceiling.w$c.checks_per_s) | $(get ceiling.w$c.cpu_per_1000) | $(get ceiling.w$c.rss_mb) | 1 |"
  echo "| C epoll ceiling, refused | $(get ceiling.refused.checks_per_s) | $(get ceiling.refused.cpu_per_1000) | | 1 |"
  echo "| parallax-probe ($SAT_TARGETS targets / $SAT_INTERVAL, timeout $SAT_TIMEOUT) | $(get probe.sat.checks_per_s) | $(get probe.sat.cpu_per_1000) | $(get probe.sat.hwm_mb) | $(get probe.sat.threads) |"
  echo "| parallax-probe ($SUS_TARGETS targets / $SUS_INTERVAL, timeout $SUS_TIMEOUT: on time) | $(get probe.sus.checks_per_s) | $(get probe.sus.cpu_per_1000) | $(get probe.sus.hwm_mb) | $(get probe.sus.threads) |"
  echo "| C epoll client + SSH-client manners, paced at the probe's rate (-w -r) | $(get ceiling.paced.checks_per_s) | $(get ceiling.paced.cpu_per_1000) | | 1 |"
  for c in $BB_LIST; do
    echo "| blackbox_exporter, $c concurrent | $(get blackbox.c$c.checks_per_s) | $(get blackbox.c$c.cpu_per_1000) | $(get blackbox.hwm_mb) | $(get blackbox.threads) |"
  done

  local probe_cpu ceil_cpu bb_cpu
  probe_cpu=$(get probe.sat.cpu_per_1000)
  ceil_cpu=$(minof $(for c in $C_LIST; do get ceiling.c$c.cpu_per_1000; done))
  bb_cpu=$(minof $(for c in $BB_LIST; do get blackbox.c$c.cpu_per_1000; done))
  local vs_ceiling vs_bb vs_w
  vs_ceiling=$(ratio "$probe_cpu" "${ceil_cpu:--}")
  vs_w=$(ratio "$probe_cpu" "$(get ceiling.w${C_LIST%% *}.cpu_per_1000)")
  vs_bb=$(ratio "${bb_cpu:--}" "$probe_cpu")
  echo
  echo "## Targets (issue 6)"
  echo
  echo "| target | bar | measured | verdict |"
  echo "|---|---|---:|---|"
  echo "| probe CPU per 1,000 checks (check + encoding + gRPC) | ≤ 0.05 s | $probe_cpu | $(verdict "$probe_cpu" '<=' 0.05) |"
  echo "| probe CPU vs the C ceiling (same run) | ≤ 1.3× | ${vs_ceiling}× | $(verdict "$vs_ceiling" '<=' 1.3) |"
  echo "| (probe CPU vs the C ceiling with SSH-client manners, -w) | (≤ 1.3×) | ${vs_w}× | $(verdict "$vs_w" '<=' 1.3) |"
  echo "| blackbox_exporter CPU vs probe (its best concurrency) | ≥ 7× | ${vs_bb}× | $(verdict "$vs_bb" '>=' 7) |"
  echo "| probe checks/s, one process | ≥ 20,000 | $(get probe.sat.checks_per_s) | $(verdict "$(get probe.sat.checks_per_s)" '>=' 20000) |"
  echo "| probe peak RSS, $FP_TARGETS targets / $FP_INTERVAL, half in flight to timeout | ≤ 32 MB | $(get footprint.hwm_mb) | $(verdict "$(get footprint.hwm_mb)" '<=' 32) |"
  echo "| probe threads (same run) | ≤ 4 | $(get footprint.threads) | $(verdict "$(get footprint.threads)" '<=' 4) |"
  echo "| probe lateness, max (p99) over the window | ≤ 100 ms | $(get footprint.late_max_ms) ($(get footprint.late_p99_ms)) | $(verdict "$(get footprint.late_max_ms)" '<=' 100) |"
  echo "| collector ingest, $ING_STREAMS streams, committed before ack | ≥ 100,000/s | $(get ingest.max.acked_per_s) | $(verdict "$(get ingest.max.acked_per_s)" '>=' 100000) |"
  echo "| collector ingest into PostgreSQL, $ING_STREAMS streams across 2 collectors, committed before ack (issue 16) | ≥ 50,000/s | $(get ingest_pg.acked_per_s) | $(verdict "$(get ingest_pg.acked_per_s)" '>=' 50000) |"
  local p99key=ingest.steady
  ((QUICK)) && p99key=ingest.max
  echo "| p99 arrival → stored, metrics, status (ack latency, $(get $p99key.offered_per_s)/s offered) | < 250 ms | $(get $p99key.ack_p99_ms) | $(verdict "$(get $p99key.ack_p99_ms)" '<' 250) |"
  echo "| p99 ack latency at the max offered rate ($(get ingest.max.offered_per_s)/s) | (< 250 ms) | $(get ingest.max.ack_p99_ms) | $(verdict "$(get ingest.max.ack_p99_ms)" '<' 250) |"
  local per_pair how
  if [[ -n $SCALE_STREAMS ]]; then
    local lo=${SCALE_STREAMS%% *} hi=${SCALE_STREAMS##* }
    per_pair=$(awk -v a="$(get scale.streams.$lo.rss_kb)" -v b="$(get scale.streams.$hi.rss_kb)" \
                   -v pa="$(get scale.streams.$lo.pairs)" -v pb="$(get scale.streams.$hi.pairs)" \
                   'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.0f", (b - a) * 1024 / (pb - pa) }')
    how="RSS slope, $lo→$hi streams × 1,000 targets"
  else
    per_pair=$(get ingest.max.bytes_per_pair)
    how="RSS growth / pairs"
  fi
  echo "| collector memory per probe×target pair ($how) | < 1,024 B | $per_pair | $(verdict "$per_pair" '<' 1024) |"
  echo "| diagnosis, 10,000 targets × 100 probes (real time) | < 50 ms | $(get micro.BM_Diagnose_10000_100_real_time.real_ms) | $(verdict "$(get micro.BM_Diagnose_10000_100_real_time.real_ms)" '<' 50) |"
  echo "| collector memory per probe×target pair (in-process: live state + metrics, heap slope 10→300 probes × 1,000 targets, after a scrape) | < 1,024 B | $(get micro.BM_PairMemory_iterations:1.bytes_per_pair) | $(verdict "$(get micro.BM_PairMemory_iterations:1.bytes_per_pair)" '<' 1024) |"
  echo "| /metrics render, 100 probes × 1,000 targets (real time; series: $(get micro.BM_RenderMetrics_100_1000_real_time.series)) | ≤ 150 ms | $(get micro.BM_RenderMetrics_100_1000_real_time.real_ms) | $(verdict "$(get micro.BM_RenderMetrics_100_1000_real_time.real_ms)" '<=' 150) |"

  echo
  echo "## Targets (issue 10, item 9: the probe stays cheap)"
  echo
  echo "| target | bar | measured | verdict |"
  echo "|---|---|---:|---|"
  echo "| probe CPU per 1,000 successful checks (check + encoding + gRPC) | ≤ 0.040 s | $probe_cpu | $(verdict "$probe_cpu" '<=' 0.040) |"
  local vs_paced
  vs_paced=$(ratio "$(get probe.sus.cpu_per_1000)" "$(get ceiling.paced.cpu_per_1000)")
  echo "| probe CPU per 1,000 at a rate it sustains vs the C client with SSH-client manners at the same rate (0.040 / 0.030) | ≤ 1.33× | ${vs_paced}× ($(get probe.sus.cpu_per_1000) / $(get ceiling.paced.cpu_per_1000) at $(get probe.sus.checks_per_s)/s) | $(verdict "$vs_paced" '<=' 1.33) |"
  echo "| probe checks/s, one process | ≥ 20,000 | $(get probe.sat.checks_per_s) | $(verdict "$(get probe.sat.checks_per_s)" '>=' 20000) |"
  echo "| (the C client with SSH-client manners, saturated, same run: what this machine allows) | (≥ 20,000) | $(get ceiling.w${C_LIST%% *}.checks_per_s) | $(verdict "$(get ceiling.w${C_LIST%% *}.checks_per_s)" '>=' 20000) |"
  echo "| probe peak RSS, $SAT_TARGETS targets / $SAT_INTERVAL | ≤ 48 MB | $(get probe.sat.hwm_mb) | $(verdict "$(get probe.sat.hwm_mb)" '<=' 48) |"
  if [[ $(get footprint.20k.hwm_mb) != - ]]; then
    echo "| probe peak RSS, $FP20_TARGETS targets / 10s, all answering | ≤ 48 MB | $(get footprint.20k.hwm_mb) | $(verdict "$(get footprint.20k.hwm_mb)" '<=' 48) |"
  fi
  if [[ $(get failing.shared.results) != - ]]; then
    echo
    echo "Targets failing at once (bench/failing.sh: SSH dropped; ICMP echo, ports 443/80/65535, path trace):"
    echo
    echo "| probe | ICMP evidence | results/s | CPU-s per 1,000 failing checks | CPU util | peak RSS MB | fds at end |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for k in before shared fallback; do
      [[ $(get failing.$k.results) == - ]] && continue
      echo "| $k | $(get failing.$k.icmp_mode) | $(get failing.$k.results_per_s) | $(get failing.$k.cpu_per_1000) | $(get failing.$k.cpu_util) | $(get failing.$k.hwm_mb) | $(get failing.$k.fds_at_end) |"
    done
  fi

  echo
  echo "## Microbenchmarks (real / CPU ms)"
  echo
  echo "| benchmark | real ms | CPU ms | series |"
  echo "|---|---:|---:|---:|"
  for k in BM_BannerParseOneRead BM_EncodeResultBatch_1000 BM_IngestResultsIntoState BM_Diagnose_1000_10_real_time \
           BM_DiagnoseAllOk_10000_100_real_time BM_Diagnose_10000_100_real_time \
           BM_LiveStateSnapshot_100_10000_real_time BM_RenderMetrics_10_100_real_time BM_RenderMetrics_100_1000_real_time \
           BM_CollectMetrics_100_1000_real_time; do
    echo "| $k | $(get micro.$k.real_ms) | $(get micro.$k.cpu_ms) | $(get micro.$k.series) |"
  done

  echo
  echo "## Ingest (parallax-bench-loadgen → parallax-collector)"
  echo
  echo "| run | streams | offered/s | acked/s | ack p50 / p99 ms | collector CPU-s per 1,000 | CPU util | peak RSS MB | bytes per pair | threads |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local run
  for run in ingest.max ingest.steady $(for s in $SCALE_STREAMS; do echo scale.streams.$s; done); do
    [[ $(get $run.offered_per_s) == - ]] && continue
    echo "| $run | $(get $run.connected) | $(get $run.offered_per_s) | $(get $run.acked_per_s) | $(get $run.ack_p50_ms) / $(get $run.ack_p99_ms) | $(get $run.cpu_per_1000) | $(get $run.cpu_util) | $(get $run.hwm_mb) | $(get $run.bytes_per_pair) | $(get $run.threads) |"
  done

  echo
  echo "## Probe runs (parallax-probe + parallax-collector)"
  echo
  echo "| run | checks/s | stored/s | probe CPU-s per 1,000 | probe CPU util | RSS / peak MB | threads | late max / p99 ms | banner timeouts | other failures | collector CPU util |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for run in probe.sat probe.sus footprint footprint.20k $(for n in $SCALE_TARGETS; do echo scale.targets.$n; done) \
             $(for t in $SCALE_TIMEOUTS; do echo scale.timeout.$t; done); do
    [[ $(get $run.checks_per_s) == - ]] && continue
    echo "| $run | $(get $run.checks_per_s) | $(get $run.stored_per_s) | $(get $run.cpu_per_1000) | $(get $run.cpu_util) | $(get $run.rss_mb) / $(get $run.hwm_mb) | $(get $run.threads) | $(get $run.late_max_ms) / $(get $run.late_p99_ms) | $(get $run.banner_timeouts) | $(get $run.other_failures) | $(get $run.collector_cpu_util) |"
  done
}
