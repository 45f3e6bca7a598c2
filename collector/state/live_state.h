// LiveState: the collector's in-memory picture of now, and the one source the
// query service, the diagnosis and /metrics read: the newest result of every
// probe for every target (with the count of checks stored per outcome), and
// every probe's connection state, labels, last heartbeat and measured clock
// offset. Fed after results are committed (never ahead of the store) and by
// stream events. Memory: one PairState (a CheckResult and 12 counts) per
// probe x target pair, nothing else per pair (docs/PERFORMANCE.md).
//
// Time: everything here is on the collector's clock. A result is ordered and
// aged by its collector_started_unix_ms (set at ingest; see ResultTimeMs), and
// a probe's last_seen_ms is when something of it last arrived.
//
// Expiry (issue 13): with SetProbeTtl, a probe that has been disconnected for
// longer than the TTL (last_seen_ms + ttl <= now, on the injected clock) is
// dropped with all its results by the first call after that moment, reader
// or writer: no reader ever sees it again. Its history stays in the store.
// The callback given to SetProbeTtl hears of every expired probe (outside the
// locks), so series kept elsewhere can be dropped too.
//
// Concurrency discipline (one rule for every caller):
//   - results live in kShards shards by target name, each behind its own
//     mutex; probes live behind one more mutex. No method holds two of these
//     locks at once, so there is no lock order to get wrong.
//   - writers (ingest after commit, stream events) take a shard's lock for
//     the results of that shard in a batch, then the probes' lock briefly.
//   - readers get copies (Snapshot, CopyProbes, CopyTargetResults) or visit
//     in place (VisitProbes, VisitTargets) under one shard's lock at a time:
//     a /metrics render of 100,000 pairs holds any one lock for 1/kShards of
//     it, and ingest of other shards goes on meanwhile. A copy or visit is
//     consistent per target (one shard lock), not across targets.
//   - visitors must be quick and must not call back into LiveState.
//   - the changed-targets set (TakeChangedTargets, the evaluator's
//     incremental diagnosis) has its own mutex, taken after a shard's lock
//     is released, never while holding another.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "collector/state/host_key_pins.h"
#include "collector/state/sorted_map.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

struct ProbeState {
  std::map<std::string, std::string> labels;
  std::string version;
  std::string boot_id;
  std::string peer;
  bool connected = false;
  // Connected to another collector sharing the database (probe_sessions, as
  // the leader reads it; collector/server/leadership.h): its name. Empty:
  // connected here, or not connected.
  std::string via_collector;
  int64_t last_seen_ms = 0;  // last message or result
  int64_t connected_since_ms = 0;
  v1::Heartbeat heartbeat;   // the last one
  int64_t heartbeat_ms = 0;  // when it arrived (0: none yet)
  // Measured clock offset (probe - collector) and the round trip of the best
  // sample (-1: one-way only); see collector/ingest/clock_offset.h.
  bool clock_measured = false;
  int64_t clock_offset_ms = 0;
  int64_t clock_rtt_ms = -1;
  // Results the probe reported dropped (spool full), summed over its boots
  // since the collector started: a heartbeat's `dropped` counts per boot, a
  // new boot_id starts again from 0 (parallax_probe_dropped_results_total).
  uint64_t dropped_total = 0;
  std::string dropped_boot_id;  // the boot dropped_seen belongs to
  uint64_t dropped_seen = 0;    // that boot's count already added
  // Times the stream paused for the result rate limit (parallax_ingest_throttled_total).
  uint64_t throttled = 0;
};

// One probe x target: the newest result, and how many checks of the pair
// were stored since the collector started, by outcome (parallax_check_total;
// results seeded from the store at start-up are not counted).
//
// A bounded history for the diagnosis (a few fields, kept by NotePairHistory
// as results arrive in time order): when the pair last read SSH, when its
// current run of failures began, the last source address its connects left
// from, and the address before the current one with when it changed.
struct PairState {
  v1::CheckResult newest;
  // The newest verified host key of the pair (results carry one at most
  // once per hostkey_interval): empty fingerprint when none yet.
  v1::HostKey host_key;
  int64_t host_key_ms = 0;
  std::array<uint32_t, v1::Outcome_ARRAYSIZE> checks{};
  int64_t last_ok_ms = 0;        // ResultTimeMs of the newest ok result (0: none seen)
  int64_t failing_since_ms = 0;  // first failure after the last ok (0: not failing)
  std::string source_address;    // newest CheckResult.source_address seen
  std::string previous_address;  // the IP checked before `newest`'s, when it changed
  int64_t address_changed_ms = 0;
};

// Folds `r` (newer than pair.newest, or equal) into the pair's history.
void NotePairHistory(PairState& pair, const v1::CheckResult& r);

// A result's time on the collector's clock: collector_started_unix_ms, or for
// a result that never went through ingest's stamping, started_unix_ms.
inline int64_t ResultTimeMs(const v1::CheckResult& r) {
  return r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms() : r.started_unix_ms();
}

struct StateSnapshot {
  // target name -> probe name -> newest result
  std::map<std::string, std::map<std::string, v1::CheckResult>> results;
  std::map<std::string, ProbeState> probes;
};

class LiveState {
 public:
  static constexpr size_t kShards = 16;
  // probe -> pair, in probe-name order, contiguous (sorted_map.h).
  using PairsOfTarget = SortedMap<std::string, PairState>;

  // Keeps each result if it is newer (ResultTimeMs) than the one held and
  // counts it by outcome; the probe was last seen when the newest of them
  // arrived (received_unix_ms).
  void UpdateResults(const std::string& probe, std::span<const v1::CheckResult> results);
  // Start-up: the newest stored result of a pair, not counted as a check.
  void SeedResult(const std::string& probe, const v1::CheckResult& result);
  // A result another collector stored (the leader's polling of the shared
  // database): kept if strictly newer (ResultTimeMs) than the one held, then
  // the target counts as changed; an older or equal one is a no-op. Not
  // counted as a check. Returns whether it was kept.
  bool ApplyPolledResult(const std::string& probe, const v1::CheckResult& result);
  // The probe is connected to collector `collector` (another one sharing the
  // database), as of seen_ms; a probe connected here is left alone.
  void ProbeConnectedElsewhere(const std::string& probe, const std::string& collector,
                               const std::map<std::string, std::string>& labels,
                               const std::string& version, const std::string& boot_id,
                               int64_t since_ms, int64_t seen_ms);
  // It no longer is (its session row went stale): disconnected as of seen_ms,
  // unless it is connected here now.
  void ProbeGoneElsewhere(const std::string& probe, int64_t seen_ms);
  void ProbeConnected(const v1::Hello& hello, const std::string& peer, int64_t now_ms);
  void ProbeDisconnected(const std::string& probe, int64_t now_ms);
  // Keeps the heartbeat and adds what is new of its `dropped` (per boot).
  void ProbeHeartbeat(const std::string& probe, const v1::Heartbeat& hb, int64_t now_ms);
  void ProbeClock(const std::string& probe, int64_t offset_ms, int64_t rtt_ms);
  void ProbeThrottled(const std::string& probe);
  // Something arrived from the probe now.
  void ProbeSeen(const std::string& probe, int64_t now_ms);
  // Seeds a probe known from storage (not connected).
  void AddKnownProbe(const std::string& probe, const ProbeState& state);
  // Forgets results of targets not in `keep` (after a config reload).
  void RetainTargets(const std::vector<std::string>& keep);

  // Probes disconnected for longer than `ttl_ms` expire (0: never), judged
  // by `now_ms`; `on_expired` (may be empty) is called with each expired
  // probe's name, outside every lock. Call before the state is shared, or
  // again on reload (the TTL changes; the clock and callback are kept if
  // passed empty).
  void SetProbeTtl(int64_t ttl_ms, std::function<int64_t()> now_ms,
                   std::function<void(const std::string&)> on_expired = {});
  // Expires what is due now; returns the probes dropped. Every other method
  // does this first too.
  std::vector<std::string> ExpireProbes();

  StateSnapshot Snapshot() const;
  // Piecewise copies for the evaluator: one short lock per call, so a big
  // state never stalls the store's writer (which updates it) for long.
  std::map<std::string, ProbeState> CopyProbes() const;
  std::map<std::string, v1::CheckResult> CopyTargetResults(const std::string& target) const;
  // Calls `fn` with the target's pairs (by probe name; empty when none)
  // under its shard's lock, without copying them. `fn` must be short (one
  // target's diagnosis) and must not call back into this LiveState.
  void VisitTargetResults(const std::string& target,
                          const std::function<void(const PairsOfTarget&)>& fn) const;
  size_t pair_count() const;
  size_t probe_count() const;

  // In-place visits for /metrics (see the discipline above): every probe
  // under the probes' lock; every target with its pairs, shard by shard.
  void VisitProbes(const std::function<void(const std::string&, const ProbeState&)>& fn) const;
  void VisitTargets(const std::function<void(const std::string&, const PairsOfTarget&)>& fn) const;

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
  // Marks one target changed (its pins changed: re-diagnose it).
  void MarkChanged(const std::string& target);

  HostKeyPins& host_key_pins() { return host_key_pins_; }

 private:
  struct Shard {
    mutable std::mutex mu;
    std::map<std::string, PairsOfTarget> targets;
  };
  static size_t ShardIndex(const std::string& target);
  Shard& ShardOf(const std::string& target) const;
  void UpdateProbeSeen(const std::string& probe, int64_t seen_ms);
  // Expires due probes if the clock has reached the earliest expiry.
  void MaybeExpire() const;
  std::vector<std::string> ExpireLocked(std::unique_lock<std::mutex>* probes_lock) const;
  void RecomputeNextExpiryLocked() const;
  void MarkAllChanged() const;

  mutable std::array<Shard, kShards> shards_;
  mutable std::mutex probes_mu_;
  mutable std::map<std::string, ProbeState> probes_;
  // Expiry settings and the earliest moment a probe may expire (guarded by
  // probes_mu_; INT64_MAX: none disconnected, or no TTL).
  int64_t ttl_ms_ = 0;
  std::function<int64_t()> now_ms_;
  std::function<void(const std::string&)> on_expired_;
  mutable int64_t next_expiry_ms_ = INT64_MAX;
  // Targets whose results changed since TakeChangedTargets (guarded by
  // changed_mu_); changed_all_: re-read everything (retain, expiry).
  mutable std::mutex changed_mu_;
  mutable std::unordered_set<std::string> changed_;
  mutable bool changed_all_ = false;
  HostKeyPins host_key_pins_;
};

}  // namespace parallax::collector
