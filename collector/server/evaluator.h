// Evaluator: runs the diagnosis on a timer. Each evaluation snapshots the
// live state and the config, calls the pure engine, passes the verdicts
// through hysteresis, and for every change of a target's stable cause records
// the incident (open, cause change, close) in the Store, updates the metrics
// and logs one line. Queries read the latest stable verdicts.
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
// (ResultTimeMs), handed to the engine as started_unix_ms.
//
// Thread-safety: EvaluateOnce runs on the evaluator's thread (or a test's);
// Explain/Causes from any thread (short lock on the published result). An
// evaluation publishes the stable verdicts as they are; only Explain turns
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
#include "collector/diagnosis/hysteresis.h"
#include "collector/ingest/assignment.h"
#include "collector/metrics/diagnosis_source.h"
#include "collector/metrics/metrics.h"
#include "collector/state/live_state.h"
#include "collector/store/store.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector {

class Evaluator : public DiagnosisSource {
 public:
  Evaluator(Store* store, LiveState* state, Metrics* metrics,
            std::function<ConfigSnapshot()> config, std::function<int64_t()> now_ms);
  ~Evaluator();

  // Seeds hysteresis with the open incidents, then evaluates on a thread every
  // diagnosis.evaluate_every (default: the shortest target interval, >= 200 ms).
  void Start();
  void Stop();
  void EvaluateOnce();

  // The stable verdict of `target` (every target if empty), with its evidence.
  v1::ExplainResponse Explain(const std::string& target) const;
  // target -> (cause, summary), for the status table.
  std::map<std::string, std::pair<v1::Cause, std::string>> Causes() const;
  // For /metrics at scrape time (collector/metrics/diagnosis_source.h): the
  // published stable causes, probe health and blocked networks.
  DiagnosisFacts Facts() const override;

 private:
  std::chrono::milliseconds Period() const;
  // First evaluation: which probes to wait for, and until when.
  void BeginStartupGrace(const Config& config, int64_t now);
  // True while the start-up grace holds (logs when it ends).
  bool InStartupGrace(int64_t now, const std::map<std::string, ProbeState>& probes);

  Store* store_;
  LiveState* state_;
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

  // What one evaluation leaves for the queries; immutable once published.
  struct Published {
    struct Entry {
      diagnosis::Verdict verdict;  // the stable one
      std::string host;
      uint32_t port = 0;
      int64_t since_ms = 0;
    };
    std::vector<Entry> verdicts;
    std::vector<diagnosis::ProbeHealth> probes;
    std::vector<std::string> blocked_networks;
    std::map<std::string, ProbeState> probe_state;  // labels for the evidence
    int64_t evaluated_ms = 0;
  };

  mutable std::mutex mu_;  // guards what queries read, and the thread's stop flag
  std::condition_variable cv_;
  bool stopping_ = false;
  std::shared_ptr<const Published> published_ = std::make_shared<Published>();
  std::thread thread_;
};

}  // namespace parallax::collector
