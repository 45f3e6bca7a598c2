// Evaluator: runs the diagnosis on a timer. Each evaluation re-diagnoses the
// targets whose inputs changed, passes the verdicts through hysteresis, and
// for every change of a target's stable cause records the incident (open,
// cause change, close) in the Store, updates the metrics and logs one line.
// Each evaluation publishes the stable verdicts, probe health and open
// incidents into the World (collector/server/world.h), where the queries,
// /metrics and the status page read them.
//
// Incremental (issue 9): the evaluator keeps a diagnosis::Fleet (rules 1-2,
// updated result by result) and re-diagnoses only
//  - the targets LiveState lists as changed (a result kept after commit:
//    LiveState::TakeChangedTargets),
//  - the targets one of whose fresh results went stale since the last
//    evaluation (the Fleet's time-ordered index of staleness deadlines, on
//    the injected clock `now_ms`),
//  - the targets whose last verdict was provisional (engine.h: it settles
//    with time alone, when a failure gets older than interval + timeout),
//  - every target when a fleet-wide fact changed (probe health, networks,
//    blocked networks, who reaches any target: FleetContext::SameFacts),
//    e.g. after a probe connected, disconnected, changed labels or went
//    silent (probes are re-read every evaluation: CopyProbes, O(probes)).
// Other targets keep their verdict; hysteresis counts their pending cause
// again (Hysteresis::ApplySome), so the verdicts, incidents and transitions
// are those of a full evaluation at the same times (evaluator_test checks
// it on randomized inputs). A full evaluation (a new Fleet read from the
// whole LiveState, every target diagnosed) runs first, after a config
// reload, after LiveState dropped results, and every `full_every`
// evaluations as a safety net (set_full_every; 0: never periodically).
//
// Incidents: a target that leaves ok for a failure cause opens one; a change
// between failure causes is recorded in it; back to ok closes it. `unknown`
// (no data) neither opens nor closes: a failure seen again after `unknown`
// continues the open incident (the evaluator tracks which are open, seeded
// from the store at start-up).
//
// Restarts are seamless: the first evaluation seeds the stable causes from
// the open incidents, and until the probes that were active before (a result
// newer than the stale window, from the store or a stream) are connected
// again, or a grace of 2 x the longest interval + the longest timeout has
// passed, evaluations change no verdict and record no incident: a half-
// reconnected fleet must not close an incident whose cause is still there.
// Pending hysteresis counts are not restored: a change that was pending at
// the restart needs its `hysteresis` evaluations again.
//
// Time: results are judged by their time on the collector's clock
// (ResultTimeMs), handed to the engine as Observation::received_ms. World::Explain
// reports each evidence row's age and connect time from the newest result
// at query time (a verdict that was not re-diagnosed keeps its roles, not
// its ages).
//
// Thread-safety: EvaluateOnce runs on the evaluator's thread (or a test's);
// Start/Stop from one controlling thread. An evaluation publishes the stable
// verdicts as shared immutable values (no copy); only World::Explain turns
// them into protos, for the targets asked about.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/fleet.h"
#include "collector/diagnosis/hysteresis.h"
#include "collector/ingest/assignment.h"
#include "collector/metrics/metrics.h"
#include "collector/server/world.h"
#include "collector/state/live_state.h"
#include "collector/store/store.h"

namespace parallax::collector {

class Evaluator {
 public:
  // Reads world->live(), publishes into `world` (collector/server/world.h).
  Evaluator(Store* store, World* world, Metrics* metrics, std::function<ConfigSnapshot()> config,
            std::function<int64_t()> now_ms);
  ~Evaluator();

  // Seeds hysteresis with the open incidents, then evaluates on a thread every
  // diagnosis.evaluate_every (default: the shortest target interval, >= 200 ms).
  void Start();
  void Stop();
  void EvaluateOnce();
  // Leadership (collector/server/leadership.h): called at the start of every
  // evaluation; false means another collector leads: this one evaluates
  // nothing, records no incident and publishes empty verdicts. On becoming
  // leader it starts over as at start-up: hysteresis seeded from the open
  // incidents in the store, the start-up grace for the probes that were
  // active. Unset (SQLite): always the leader. Before Start().
  void set_leadership(std::function<bool()> step) { lead_ = std::move(step); }
  // The evaluation period: diagnosis.evaluate_every, or the shortest target
  // interval (at most 10 s), at least 200 ms.
  std::chrono::milliseconds Period() const;
  // Every how many evaluations a full one runs (0: only when needed).
  // Evaluation thread, or before Start().
  void set_full_every(int n) { full_every_ = n; }
  // What the last evaluation did (evaluation thread, tests, benches).
  struct PassStats {
    bool full = false;
    size_t rediagnosed = 0;
  };
  PassStats last_pass() const { return last_pass_; }

 private:
  // Forgets everything an evaluation built (leadership moved).
  void Reset();
  // First evaluation: which probes to wait for, and until when.
  void BeginStartupGrace(const Config& config, int64_t now);
  // True while the start-up grace holds (logs when it ends).
  bool InStartupGrace(int64_t now, const std::map<std::string, ProbeState>& probes);
  // Feeds the Fleet the probes' state (labels, connection, last seen).
  void UpdateProbes(const std::map<std::string, ProbeState>& probes);
  // Re-reads `target`'s results into the Fleet.
  void ReadTarget(size_t index);
  // Diagnoses config target `index` against `ctx` (its verdict in force,
  // itself, when unchanged: engine.h).
  std::shared_ptr<const diagnosis::Verdict> DiagnoseOne(size_t index,
                                                        const diagnosis::FleetContext& ctx);

  Store* store_;
  World* world_;
  LiveState* state_;  // world_->live()
  Metrics* metrics_;
  std::function<ConfigSnapshot()> config_;
  std::function<int64_t()> now_ms_;

  // Evaluation thread only.
  std::unique_ptr<diagnosis::Hysteresis> hysteresis_;
  int hysteresis_required_ = 0;
  std::map<std::string, bool> probe_health_published_;
  std::map<std::string, v1::Cause> open_incidents_;  // target -> its cause now
  bool grace_over_ = false;
  int64_t grace_start_ms_ = 0;
  int64_t grace_until_ms_ = 0;
  std::set<std::string> awaited_;  // probes active before the start
  // Incremental diagnosis: the Fleet of the current config, its target index
  // per config target, the facts of the last evaluation.
  std::shared_ptr<const Config> fleet_config_;
  std::unique_ptr<diagnosis::Fleet> fleet_;
  std::vector<int> fleet_targets_;                             // config target index -> Fleet index
  std::map<std::string, std::vector<size_t>> target_index_;    // name -> config indices
  std::map<std::string, int> probe_ids_;                       // probe name -> Fleet index (sorted)
  std::map<std::string, diagnosis::ProbeInput> probe_inputs_;  // as last given to the Fleet
  diagnosis::FleetContext last_context_;
  // Config target indices whose last verdict was provisional (engine.h): it
  // settles with time alone, so they are diagnosed again at every pass.
  std::set<size_t> provisional_;
  bool need_full_ = true;
  int full_every_ = 60;
  int since_full_ = 0;
  PassStats last_pass_;
  std::function<bool()> lead_;
  bool leading_ = true;

  mutable std::mutex mu_;  // guards the thread's stop flag
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace parallax::collector
