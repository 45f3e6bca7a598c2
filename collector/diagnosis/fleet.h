// Fleet: rules 1 and 2 of the diagnosis (engine.h) kept up to date result by
// result, so an evaluation does not have to walk every result of the fleet.
//
// What the collector's evaluator (collector/server/evaluator.h) calls:
//
//   Fleet fleet(stale_intervals);
//   int p = fleet.Probe("p1");            // intern names once; indices are stable
//   int t = fleet.Target("web");
//   fleet.SetTarget(t, interval_ms, timeout_ms);      // config load / change
//   fleet.SetProbe(p, {labels, connected, last_seen_ms});  // hello, heartbeat,
//                                                          // disconnect, labels
//   fleet.Update(p, t, &result, received_ms);  // a new newest result (after commit)
//   fleet.Update(p, t, nullptr, 0);            // the result is gone (retention)
//   ...
//   std::vector<int> expired = fleet.Advance(now_ms);  // once per evaluation
//   FleetContext ctx = fleet.Context();                // O(probes + networks)*
//   for each target t that is dirty (an Update or SetTarget touched it), or
//   in `expired`, or every target when !ctx.SameFacts(previous ctx):
//     Verdict v = DiagnoseTarget(target_input_of(t), ctx);   // engine.h
//   (other targets keep their verdict; only the ages in its evidence age:
//   age = now - received, computable at display time.)
//
// DiagnoseTarget's TargetInput must carry the same results (ordered by probe
// name), receive times, interval and timeout the Fleet was given (the Fleet
// keeps only a few bits per result, not the result). `NextExpiry()` tells
// when the next fresh result goes stale (to wake the evaluator for it).
// fleet_test.cc runs exactly this protocol against full Diagnose() on
// randomized fleets and update sequences.
//
// * Context() is O(probes + networks) plus, for a probe that fails every
//   target it has fresh results for (or a network whose probes all do), a
//   walk of its failed targets that stops at the first (second) one another
//   network reaches. Update() is O(networks reading the target); Advance() is
//   O(log n) per expired result; SetProbe() is O(1), or O(targets) when the
//   probe's network changes; SetTarget() is O(probes) when the window changes.
//
// Time: freshness is `now - received_ms <= stale_intervals x interval +
// timeout`, `now` being the last Advance(). Advance() never goes back: an
// earlier time is ignored (the evaluator's clock should be monotonic).
//
// Thread-safety: not thread-safe; one owner (the evaluator). A FleetContext
// is a plain value: copy it, share it read-only between threads.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/diagnosis/engine.h"

namespace parallax::collector::diagnosis {

// Why a probe is excluded (rule 1); wording.h words it.
enum class Unhealthy {
  kNo,
  kDisconnected,
  kSilent,
  kProbeErrors,       // most of its fresh results are probe_error: it cannot run checks
  kIsolated,          // fails everything and nothing answers it: its network is down
  kSshEgressBlocked,  // fails SSH everywhere, answers come back, a peer in its network
                      // reaches SSH: outbound SSH is filtered in front of this probe
};

// What a target verdict needs to know about one probe.
struct ProbeFacts {
  std::string probe;             // its name
  std::string network;           // the label, or "probe:<name>"
  int network_id = 0;            // equal ids <=> equal networks (within one context)
  bool healthy = false;          // rule 1
  bool reaches_some = false;     // a fresh ok on some target
  bool network_blocked = false;  // rule 2: its network blocks SSH
  Unhealthy why = Unhealthy::kNo;
  int64_t silent_ms = 0;  // for kSilent: now - last_seen
  int fresh = 0;          // fresh results, probe_error ones apart (for the wording)
  int probe_errors = 0;   // fresh probe_error results
  // kSshEgressBlocked: the evaluator exports it as
  // parallax_probe_ssh_egress_blocked{probe} (1/0).
  bool ssh_egress_blocked = false;
};

struct FleetContext {
  int64_t now_ms = 0;
  int stale_intervals = 3;
  std::vector<ProbeFacts> probes;             // every probe set with SetProbe, by name
  std::vector<ProbeHealth> health;            // the same probes, with labels and reasons
  std::vector<std::string> blocked_networks;  // sorted

  // The facts a target verdict depends on (health, network, blocked, reaches
  // some target) are equal: when true, only targets whose own results
  // changed (or expired) can have a different verdict than under `other`
  // (apart from ages in the evidence).
  bool SameFacts(const FleetContext& other) const;
  // The facts of `probe`, or null when it is not listed. O(log probes).
  const ProbeFacts* Find(std::string_view probe) const;
};

// The context of a whole Input at input.now_ms, without keeping a Fleet
// (what Diagnose() uses).
FleetContext ContextOf(const Input& input);

class Fleet {
 public:
  explicit Fleet(int stale_intervals = 3);

  // Interns a name; the index is stable for the Fleet's life. A probe named
  // only here (never SetProbe) is not listed and its results are excluded
  // like an unhealthy probe's.
  int Probe(std::string_view name);
  int Target(std::string_view name);
  const std::string& ProbeName(int probe) const { return probes_[probe].name; }
  const std::string& TargetName(int target) const { return targets_[target].name; }

  // Labels (network), connection and last message time of a probe.
  void SetProbe(int probe, const ProbeInput& input);
  // The probe is no longer listed (its results stay, excluded).
  void ForgetProbe(int probe);
  // The target's freshness window. A target never set, or forgotten, has no
  // window: its results count as stale and it is out of the silence rule.
  void SetTarget(int target, int64_t interval_ms, int64_t timeout_ms);
  // Drops the target's window and all its results.
  void ForgetTarget(int target);

  // The newest result of `probe` for `target` is now `after` (received at
  // `received_ms`), or none when `after` is null. Only a few facts of it are
  // kept (ok, alive evidence); the pointer is not stored. Giving the same
  // result again (same time, same facts) changes nothing and costs O(1):
  // a caller may re-read a whole target when one of its results changed.
  void Update(int probe, int target, const v1::CheckResult* after, int64_t received_ms);

  // Moves time to `now_ms` (never back) and expires the results that became
  // stale; returns the targets that lost a fresh result (each once).
  std::vector<int> Advance(int64_t now_ms);
  int64_t now_ms() const { return now_; }
  // When the next fresh result goes stale (its last fresh millisecond + 1),
  // or INT64_MAX. Conservative: may be earlier than needed, never later.
  int64_t NextExpiry();

  // Rules 1-2 at now_ms().
  FleetContext Context() const;

 private:
  friend FleetContext ContextOf(const Input& input);

  struct Slot {  // 16 bytes: a million of them in a full evaluation
    int64_t received_ms = 0;
    int32_t fail_pos = -1;  // index in ProbeState::fails while fresh and failing
    bool present = false;
    bool fresh = false;
    bool ok = false;
    // What the result was besides ok: kNone, kAlive (something answered),
    // or kProbeError (no observation: counted apart, never a fail or an ok).
    enum Answer : uint8_t { kNone, kAlive, kProbeError } answer = kNone;
    bool alive() const { return answer == kAlive; }
    bool probe_error() const { return answer == kProbeError; }
  };
  static_assert(sizeof(Slot) == 16, "a million slots per full evaluation: keep them small");
  struct ProbeState {
    std::string name;
    bool known = false;
    ProbeInput input;
    int network = -1;
    int fresh = 0, ok = 0, alive = 0;          // fresh results other than probe_error
    int errors = 0;                            // fresh probe_error results
    std::map<int, std::string> error_details;  // target -> detail of a present probe_error
    std::vector<int> fails;                    // targets with a fresh failure
    std::vector<Slot> slots;                   // by target
  };
  struct TargetState {
    std::string name;
    bool has_window = false;
    int64_t interval_ms = 0, timeout_ms = 0;
    std::vector<std::pair<int, int>> ok_by_network;  // network -> fresh ok results
  };
  struct Expiry {
    int64_t at;
    int probe, target;
    bool operator>(const Expiry& o) const { return at > o.at; }
  };

  int NetworkIndex(const std::string& name);
  int64_t Window(const TargetState& t) const;
  int64_t ExpiryOf(int target, const Slot& s) const;  // its last fresh millisecond
  void Count(int probe, int target, int sign);        // adds/removes a fresh slot's share
  void Refresh(int probe, int target);                // re-judges freshness of a slot at now_
  bool PreHealthy(const ProbeState& p) const;
  bool ReachedElsewhere(int target, int network, const std::vector<int>& excluded) const;

  int stale_intervals_;
  bool track_expiry_ = true;  // false for Diagnose's one-shot fleet (time fixed)
  int64_t now_ = std::numeric_limits<int64_t>::min();
  std::vector<ProbeState> probes_;
  std::vector<TargetState> targets_;
  std::unordered_map<std::string, int> probe_index_, target_index_, network_index_;
  std::vector<std::string> networks_;
  std::map<int64_t, int> intervals_, timeouts_;  // over targets with a window: value -> count
  // A min-heap by `at` (std::push_heap with std::greater). Expiries added
  // since the last Advance/NextExpiry wait in `added_`: a full read adds a
  // million at once, and one make_heap is much cheaper than a million pushes.
  std::vector<Expiry> expiries_;
  std::vector<Expiry> added_;
  void MergeAdded();
  int64_t fresh_total_ = 0;  // fresh slots, to bound the lazy heap
};

}  // namespace parallax::collector::diagnosis
