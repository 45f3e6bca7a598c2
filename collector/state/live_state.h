// LiveState: the collector's in-memory picture of now: the newest result of
// every probe for every target, and every probe's connection state. Fed after
// results are committed (never ahead of the store), read by the query service,
// the metrics and the diagnosis. Memory: one CheckResult per probe x target.
//
// Time: everything here is on the collector's clock. A result is ordered and
// aged by its collector_started_unix_ms (set at ingest; see ResultTimeMs), and
// a probe's last_seen_ms is when something of it last arrived.
//
// Thread-safe: every method takes a short internal lock; readers get copies,
// except VisitTargetResults (a look at one target under the lock).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

struct ProbeState {
  std::map<std::string, std::string> labels;
  std::string version;
  std::string boot_id;
  std::string peer;
  bool connected = false;
  int64_t last_seen_ms = 0;      // last message or result
  int64_t connected_since_ms = 0;
  v1::Heartbeat heartbeat;       // the last one
  // Measured clock offset (probe - collector) and the round trip of the best
  // sample (-1: one-way only); see collector/ingest/clock_offset.h.
  bool clock_measured = false;
  int64_t clock_offset_ms = 0;
  int64_t clock_rtt_ms = -1;
};

// A result's time on the collector's clock: collector_started_unix_ms, or for
// a result that never went through ingest's stamping, started_unix_ms.
inline int64_t ResultTimeMs(const v1::CheckResult& r) {
  return r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms()
                                            : r.started_unix_ms();
}

struct StateSnapshot {
  // target name -> probe name -> newest result
  std::map<std::string, std::map<std::string, v1::CheckResult>> results;
  std::map<std::string, ProbeState> probes;
};

class LiveState {
 public:
  // Keeps each result if it is newer (ResultTimeMs) than the one held; the
  // probe was last seen when the newest of them arrived (received_unix_ms).
  void UpdateResults(const std::string& probe, std::span<const v1::CheckResult> results);
  void ProbeConnected(const v1::Hello& hello, const std::string& peer, int64_t now_ms);
  void ProbeDisconnected(const std::string& probe, int64_t now_ms);
  void ProbeHeartbeat(const std::string& probe, const v1::Heartbeat& hb, int64_t now_ms);
  void ProbeClock(const std::string& probe, int64_t offset_ms, int64_t rtt_ms);
  // Something arrived from the probe now.
  void ProbeSeen(const std::string& probe, int64_t now_ms);
  // Seeds a probe known from storage (not connected).
  void AddKnownProbe(const std::string& probe, const ProbeState& state);
  // Forgets results of targets not in `keep` (after a config reload).
  void RetainTargets(const std::vector<std::string>& keep);

  StateSnapshot Snapshot() const;
  // Piecewise copies for the evaluator: one short lock per call, so a big
  // state never stalls the store's writer (which updates it) for long.
  std::map<std::string, ProbeState> CopyProbes() const;
  std::map<std::string, v1::CheckResult> CopyTargetResults(const std::string& target) const;
  // Calls `fn` with the target's newest results (by probe name; empty when
  // none) under the lock, without copying them. `fn` must be short (one
  // target's diagnosis) and must not call back into this LiveState.
  void VisitTargetResults(
      const std::string& target,
      const std::function<void(const std::map<std::string, v1::CheckResult>&)>& fn) const;
  size_t pair_count() const;

  // The targets whose results changed since the last call (UpdateResults
  // kept a result for them), for the evaluator's incremental diagnosis; one
  // consumer. Probe changes (connect, labels, heartbeat) are not listed: the
  // evaluator reads every probe each time (CopyProbes). `all` is set when
  // the set was dropped (RetainTargets): re-read every target.
  struct ChangedTargets {
    std::vector<std::string> targets;
    bool all = false;
  };
  ChangedTargets TakeChangedTargets();

 private:
  mutable std::mutex mu_;
  StateSnapshot s_;
  std::unordered_set<std::string> changed_;  // at most one entry per target
  bool changed_all_ = false;
};

}  // namespace parallax::collector
