// Metrics: every Prometheus series the collector exports. Two parts:
//   - the series that describe the world (probes, probe x target pairs,
//     targets' causes, probe health) are rendered at scrape time from their
//     source, the LiveState and the published diagnosis, by a
//     StateCollectable (collector/metrics/state_collectable.h): nothing is
//     mirrored per pair, so /metrics cannot drift from `parallax status`;
//   - event counters and process gauges (ingest, streams, reloads,
//     incidents, storage health, the commit histogram) stay prometheus-cpp
//     metrics on one Registry, updated where the event happens.
// Collect() joins both; Render() writes that as the text a scrape gets
// (collector/metrics/exposition.h), served by MetricsServer.
//
// Series count (documented in docs/METRICS.md): per probe x target pair 4
// gauges + one counter per outcome stored since start-up (O <= 11), so
// P*T*(4 + O) + ~11 x probes + a constant; linear, no histogram per pair.
//
// Thread-safe: prometheus-cpp metrics are atomic; the state is read under
// its own locks (collector/state/live_state.h).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/metrics/diagnosis_source.h"
#include "collector/metrics/state_collectable.h"
#include "collector/state/live_state.h"
#include "parallax/v1/outcome.pb.h"

namespace parallax::collector {

class Metrics {
 public:
  // `state` (may be null: no world series) must outlive the Metrics.
  explicit Metrics(const LiveState* state = nullptr);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  const std::shared_ptr<StateCollectable>& state_collectable() const { return world_; }
  // The published diagnosis, read at scrape time (null: none). The source
  // must outlive the Metrics or be unset first.
  void SetDiagnosisSource(const DiagnosisSource* source) { world_->SetDiagnosisSource(source); }
  // parallax_collector_leader: 1 while this collector runs the diagnosis
  // (always with SQLite; with PostgreSQL the holder of the leader lock).
  void SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }
  // Whether the per-probe, per-pair and diagnosis series (StateCollectable)
  // are exported: only by the leader, so that collectors sharing a database
  // scraped as one job do not count them twice. This collector's own
  // ingest, stream and store series are exported either way.
  void SetExportsState(bool on) { exports_state_.store(on); }
  // Everything, as a scrape sees it (tests, benchmarks).
  std::vector<prometheus::MetricFamily> Collect() const;
  // Appends the text exposition of Collect() to *out (what GET /metrics gets).
  void Render(std::string* out) const;

  void SetStreams(size_t n) { streams_.Set(static_cast<double>(n)); }
  void CountIngest(int stored, int duplicates);
  void CountRejected(const std::string& reason, int n);
  void ObserveCommit(double seconds) { commit_seconds_.Observe(seconds); }
  void CountStreamEvent(const std::string& event);  // "opened", "replaced", "rejected"
  void SetConfigGeneration(uint64_t g) { config_generation_.Set(static_cast<double>(g)); }
  void CountReload(bool ok);
  void CountIncident(v1::Cause cause);

  // Storage health (from the Store's StoreStats, pushed after each refresh):
  // parallax_store_errors_total{kind} (set to the store's cumulative counts),
  // parallax_store_{database,wal,free}_bytes, parallax_store_retention_lag_seconds.
  void SetStoreStats(const std::map<std::string, uint64_t>& errors_by_kind, double database_bytes,
                     double wal_bytes, double free_bytes, double retention_lag_seconds);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<StateCollectable> world_;
  prometheus::Family<prometheus::Counter>& ingest_results_;
  prometheus::Family<prometheus::Counter>& stream_events_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Counter>& incidents_;
  prometheus::Counter& stored_;
  prometheus::Counter& duplicates_;
  prometheus::Gauge& streams_;
  prometheus::Gauge& config_generation_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Gauge& leader_;
  std::atomic<bool> exports_state_{true};

  // Storage health series, registered by RegisterStoreSeries().
  void RegisterStoreSeries();
  prometheus::Family<prometheus::Counter>* store_errors_ = nullptr;
  prometheus::Gauge* store_database_bytes_ = nullptr;
  prometheus::Gauge* store_wal_bytes_ = nullptr;
  prometheus::Gauge* store_free_bytes_ = nullptr;
  prometheus::Gauge* store_retention_lag_ = nullptr;
};

}  // namespace parallax::collector
