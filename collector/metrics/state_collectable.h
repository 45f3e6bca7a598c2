// StateCollectable: the collector's per-probe, per-pair and per-target series,
// rendered at scrape time from their source of truth instead of mirrored
// gauges: the LiveState (probes, newest results and check counts, heartbeats,
// clock offsets) and the published diagnosis (DiagnosisSource). Families:
//   per pair:   parallax_check_total{outcome,probe,target} (outcomes seen),
//               parallax_check_up, _connect_seconds, _banner_seconds,
//               _last_timestamp_seconds {probe,target}
//   per probe:  parallax_probe_connected, _info{network,probe,site},
//               _clock_offset_seconds (once measured), _spooled_results,
//               _checks_in_flight, _dropped_results_total (after a
//               heartbeat), parallax_ingest_throttled_total (once throttled)
//   diagnosis:  parallax_target_up, parallax_target_cause{cause,target},
//               parallax_probe_healthy, _ssh_egress_blocked,
//               _cannot_run_checks, parallax_network_ssh_blocked
// Nothing is kept per pair here, so a series disappears with what it
// describes (a target dropped on reload, a probe expired after probe_ttl).
// Two things are remembered between scrapes, by name only: the causes each
// configured target has had (exported as 0 while not in force), and the
// networks ever blocked (0 once unblocked).
//
// Label values are escaped (common/escape.h) and labels are written in name
// order, as prometheus-cpp's own families did.
//
// Locking: Collect() reads the state through its visitors (one shard's lock
// at a time, see collector/state/live_state.h) and the diagnosis through one
// Facts() call; never a lock over the whole state.
//
// Thread-safe: Collect() may run on several HTTP threads at once.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "collector/metrics/diagnosis_source.h"
#include "collector/state/live_state.h"

namespace parallax::collector {

class StateCollectable : public prometheus::Collectable {
 public:
  explicit StateCollectable(const LiveState* state) : state_(state) {}
  // May be null; set before scrapes or swapped atomically (the source must
  // outlive every scrape that can see it).
  void SetDiagnosisSource(const DiagnosisSource* source) { source_.store(source); }

  std::vector<prometheus::MetricFamily> Collect() const override;
  // Appends the text exposition of what Collect() returns, the same bytes
  // (a test holds them equal), without building a MetricFamily per pair:
  // the per-pair series (all but a few thousand) are written straight from
  // the state.
  void Render(std::string* out) const;

 private:
  void CollectProbes(std::vector<prometheus::MetricFamily>* out,
                     std::set<std::string>* probes) const;
  void CollectPairs(std::vector<prometheus::MetricFamily>* out) const;
  void RenderPairs(std::string* out) const;
  void CollectDiagnosis(const std::set<std::string>& probes,
                        std::vector<prometheus::MetricFamily>* out) const;

  const LiveState* state_;
  std::atomic<const DiagnosisSource*> source_{nullptr};
  mutable std::atomic<size_t> pair_bytes_hint_{0};       // the last render's pair text, bytes
  mutable std::mutex mu_;                                // guards the memory below
  mutable std::map<std::string, uint32_t> causes_seen_;  // target -> bit per cause
  mutable std::set<std::string> networks_seen_;
};

}  // namespace parallax::collector
