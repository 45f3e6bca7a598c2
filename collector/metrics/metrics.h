// Metrics: every Prometheus series the collector exports, built once at
// start-up on one Registry (prometheus-cpp), references kept for the hot path.
//
// Series count (documented in docs/METRICS.md): per probe x target pair at
// most 4 gauges + one counter per outcome actually seen (<= 10), so at most
// 14 x pairs + 7 x probes (connected, info, healthy, clock offset, spooled,
// dropped, in flight) + a constant; linear, no histogram per pair.
//
// Thread-safe: prometheus-cpp metrics are atomic; the per-pair cache is
// guarded by a short lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

class Metrics {
 public:
  Metrics();
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // After a commit: per-pair outcome counters and last-check gauges.
  void ObserveResults(const std::string& probe, std::span<const v1::CheckResult> results);
  void SetProbeConnected(const std::string& probe, bool connected);
  // parallax_probe_info{probe,network,site} 1: the probe's place, for joins
  // and dashboard variables (replaced when the probe's labels change).
  void SetProbeInfo(const std::string& probe, const std::map<std::string, std::string>& labels);
  // parallax_probe_clock_offset_seconds{probe}: the probe's wall clock minus
  // the collector's, as measured (collector/ingest/clock_offset.h).
  void SetProbeClockOffset(const std::string& probe, double seconds);
  // From a heartbeat: parallax_probe_spooled_results, _checks_in_flight, and
  // parallax_probe_dropped_results_total (the probe counts drops per boot; the
  // counter adds what is new, and a boot's whole count when the probe
  // restarted with a new `boot_id`).
  void ObserveHeartbeat(const std::string& probe, const std::string& boot_id,
                        const v1::Heartbeat& hb);
  void SetStreams(size_t n) { streams_.Set(static_cast<double>(n)); }
  void CountIngest(int stored, int duplicates);
  void CountRejected(const std::string& reason, int n);
  void ObserveCommit(double seconds) { commit_seconds_.Observe(seconds); }
  void CountStreamEvent(const std::string& event);  // "opened", "replaced", "rejected"
  // parallax_ingest_throttled_total{probe}: times a stream's reads paused
  // for the per-stream result rate limit.
  void CountThrottled(const std::string& probe);
  void SetConfigGeneration(uint64_t g) { config_generation_.Set(static_cast<double>(g)); }
  void CountReload(bool ok);
  // Drops the per-pair series of targets not in `keep`.
  void RetainTargets(const std::set<std::string>& keep);

  // Diagnosis: the cause in force per target (1 for it, 0 for causes it had
  // before), target up (cause ok), probe health, blocked networks, incidents.
  void SetTargetCause(const std::string& target, v1::Cause cause);
  void SetProbeHealthy(const std::string& probe, bool healthy);
  // parallax_probe_ssh_egress_blocked{probe} and
  // parallax_probe_cannot_run_checks{probe} (1/0, from the diagnosis).
  void SetProbeFacts(const std::string& probe, bool ssh_egress_blocked, bool cannot_run_checks);
  void SetNetworkBlocked(const std::string& network, bool blocked);
  void CountIncident(v1::Cause cause);

  // Storage health (from the Store's StoreStats, pushed after each refresh):
  // parallax_store_errors_total{kind} (set to the store's cumulative counts),
  // parallax_store_{database,wal,free}_bytes, parallax_store_retention_lag_seconds.
  void SetStoreStats(const std::map<std::string, uint64_t>& errors_by_kind, double database_bytes,
                     double wal_bytes, double free_bytes, double retention_lag_seconds);

 private:
  struct PairSeries {
    prometheus::Gauge* up = nullptr;
    prometheus::Gauge* connect_seconds = nullptr;
    prometheus::Gauge* banner_seconds = nullptr;
    prometheus::Gauge* last_check = nullptr;
    std::array<prometheus::Counter*, v1::Outcome_ARRAYSIZE> by_outcome{};
  };
  PairSeries& PairLocked(const std::string& probe, const std::string& target);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& check_total_;
  prometheus::Family<prometheus::Gauge>& check_up_;
  prometheus::Family<prometheus::Gauge>& connect_seconds_;
  prometheus::Family<prometheus::Gauge>& banner_seconds_;
  prometheus::Family<prometheus::Gauge>& last_check_;
  prometheus::Family<prometheus::Gauge>& probe_connected_;
  prometheus::Family<prometheus::Gauge>& probe_info_;
  prometheus::Family<prometheus::Counter>& ingest_results_;
  prometheus::Family<prometheus::Counter>& stream_events_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Gauge>& target_up_;
  prometheus::Family<prometheus::Gauge>& target_cause_;
  prometheus::Family<prometheus::Gauge>& probe_healthy_;
  prometheus::Family<prometheus::Gauge>& probe_egress_blocked_;
  prometheus::Family<prometheus::Gauge>& probe_cannot_run_;
  prometheus::Family<prometheus::Gauge>& network_blocked_;
  prometheus::Family<prometheus::Counter>& incidents_;
  prometheus::Counter& stored_;
  prometheus::Counter& duplicates_;
  prometheus::Family<prometheus::Gauge>& probe_clock_offset_;
  prometheus::Family<prometheus::Gauge>& probe_spooled_;
  prometheus::Family<prometheus::Gauge>& probe_in_flight_;
  prometheus::Family<prometheus::Counter>& probe_dropped_;
  prometheus::Gauge& streams_;
  prometheus::Gauge& config_generation_;
  prometheus::Histogram& commit_seconds_;

  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, PairSeries> pairs_;
  std::map<std::string, std::map<v1::Cause, prometheus::Gauge*>> causes_;  // target -> cause
  std::map<std::string, prometheus::Gauge*> probe_info_series_;

  // Storage health series, registered by RegisterStoreSeries().
  void RegisterStoreSeries();
  prometheus::Family<prometheus::Counter>* store_errors_ = nullptr;
  prometheus::Gauge* store_database_bytes_ = nullptr;
  prometheus::Gauge* store_wal_bytes_ = nullptr;
  prometheus::Gauge* store_free_bytes_ = nullptr;
  prometheus::Gauge* store_retention_lag_ = nullptr;
  // probe -> (boot_id, the dropped count of that boot already counted)
  std::map<std::string, std::pair<std::string, uint64_t>> dropped_seen_;
};

}  // namespace parallax::collector
