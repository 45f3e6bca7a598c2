// World: the one owner of the collector's picture of now (issue 9).
//
// It holds both halves of that picture:
//  - the inputs, LiveState (collector/state/live_state.h): probes (labels,
//    connection, heartbeat, measured clock offset, address seen), the newest
//    result of every probe x target pair, and the set of targets whose
//    inputs changed. Changed only by ingest after commit and by stream
//    events, under LiveState's own discipline (sharded locks, one at a time);
//  - the outputs, Verdicts: the stable verdicts with their evidence, probe
//    health, blocked networks, the fleet facts they were judged with and the
//    open incidents. Changed only by the evaluator, which publishes a whole
//    new immutable Verdicts after each evaluation (Publish).
//
// Readers (the query service, /metrics, the status page, ad-hoc checks) read
// through the World: Verdicts() hands out the current immutable snapshot (a
// shared_ptr copy under a short lock, never a copy of the verdicts), and
// Explain() joins a verdict with its targets' newest results, visiting one
// target's results at a time under its shard's lock. A reader sees one
// evaluation's verdicts, consistent across targets; the results it joins
// them with may be newer (ages are computed at read time).
//
// Thread-safety: every method may be called from any thread. Publish is
// called by the evaluator's thread; live() writers follow LiveState's rules.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "collector/config/config.h"
#include "collector/diagnosis/engine.h"
#include "collector/metrics/diagnosis_source.h"
#include "collector/state/live_state.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector {

// What one evaluation leaves for the readers; immutable once published.
struct Verdicts {
  struct Entry {
    std::shared_ptr<const diagnosis::Verdict> verdict;  // the stable one
    const TargetConfig* target = nullptr;               // in `config`
    int64_t since_ms = 0;
  };
  std::shared_ptr<const Config> config;  // keeps `Entry::target` alive
  std::vector<Entry> verdicts;           // config order
  std::vector<diagnosis::ProbeHealth> probes;
  std::vector<std::string> blocked_networks;
  std::map<std::string, ProbeState> probe_state;           // labels for the evidence
  std::shared_ptr<const diagnosis::FleetContext> context;  // rules 1-2 at evaluated_ms
  std::map<std::string, v1::Cause> open_incidents;         // target -> its cause now
  int64_t evaluated_ms = 0;                                // 0: nothing evaluated yet
};

class World : public DiagnosisSource {
 public:
  World() = default;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // The inputs.
  LiveState& live() { return live_; }
  const LiveState& live() const { return live_; }

  // The outputs: replaced whole by the evaluator after each evaluation.
  void Publish(std::shared_ptr<const Verdicts> verdicts);
  // The current outputs (an empty Verdicts before the first evaluation).
  std::shared_ptr<const Verdicts> verdicts() const;

  // The stable verdict of `target` (every target if empty), with its
  // evidence joined to the newest results, and the probes' health.
  v1::ExplainResponse Explain(const std::string& target) const;
  // target -> (cause, summary), for the status table.
  std::map<std::string, std::pair<v1::Cause, std::string>> Causes() const;
  // For /metrics at scrape time (collector/metrics/diagnosis_source.h).
  DiagnosisFacts Facts() const override;
  // The fleet context of the last evaluation (null before the first), for
  // diagnosing ad-hoc checks (collector/adhoc) the same way.
  std::shared_ptr<const diagnosis::FleetContext> FleetFacts() const;

 private:
  LiveState live_;
  mutable std::mutex mu_;  // guards verdicts_ (the pointer, not what it points to)
  std::shared_ptr<const Verdicts> verdicts_ = std::make_shared<Verdicts>();
};

}  // namespace parallax::collector
