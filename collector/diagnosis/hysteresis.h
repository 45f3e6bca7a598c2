// Hysteresis: a target's reported cause changes only after the engine has
// named the new cause in `required` consecutive evaluations, so one lost
// packet does not flap a verdict or open an incident. With evaluations every
// interval, a new verdict takes at most required x interval + timeout.
// A provisional verdict (Verdict::provisional: some vantage points fail since
// less than an interval + timeout, others read SSH) whose cause differs from
// the stable one is not counted: it neither confirms nor cancels a pending
// cause; the first verdict after it that is not provisional counts.
//
// Two ways to feed it, with the same outcome:
//  - Apply(): a full evaluation, every target's verdict; targets missing from
//    it are forgotten.
//  - ApplySome(): an incremental evaluation, the verdicts of the targets that
//    were re-diagnosed only. A target left out is taken to have the verdict it
//    had last time (its inputs did not change): one with a pending cause
//    counts that cause again, exactly as Apply() would have counted the same
//    verdict again. Nobody is forgotten: Forget() drops a target.
//
// Pure state machine: verdicts and time in, stable verdicts and transitions
// out; no I/O, no clock. Not thread-safe: one owner (the evaluator). The
// stable verdicts are immutable and shared (shared_ptr<const Verdict>), so an
// owner can publish them to readers without copying them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/diagnosis/engine.h"

namespace parallax::collector::diagnosis {

struct Transition {
  std::string target;
  v1::Cause from = v1::CAUSE_UNKNOWN;
  v1::Cause to = v1::CAUSE_UNKNOWN;
  int64_t at_ms = 0;
  std::shared_ptr<const Verdict> verdict;  // the stable verdict after the change
};

struct StableVerdict {
  // The latest engine verdict whose cause is the stable one (never null).
  std::shared_ptr<const Verdict> verdict;
  int64_t since_ms = 0;                       // when the stable cause took effect
  v1::Cause pending = v1::CAUSE_UNSPECIFIED;  // a different cause seen, not yet confirmed
  int pending_count = 0;
  std::shared_ptr<const Verdict> pending_verdict;  // the latest verdict naming `pending`
  uint64_t epoch = 0;  // the last Apply/ApplySome that gave this target a verdict
};

class Hysteresis {
 public:
  explicit Hysteresis(int required) : required_(required < 1 ? 1 : required) {}

  // A full evaluation; returns the transitions it caused. Targets missing
  // from `verdicts` are forgotten.
  std::vector<Transition> Apply(std::vector<Verdict> verdicts, int64_t now_ms);
  // An incremental evaluation (see the header comment).
  std::vector<Transition> ApplySome(std::vector<Verdict> verdicts, int64_t now_ms);
  // The same, with verdicts already shared (the evaluator's, which may be
  // the stable or pending verdict itself, kept when unchanged).
  using SharedVerdicts = std::vector<std::shared_ptr<const Verdict>>;
  std::vector<Transition> Apply(SharedVerdicts verdicts, int64_t now_ms);
  std::vector<Transition> ApplySome(SharedVerdicts verdicts, int64_t now_ms);
  void Forget(const std::string& target) { stable_.erase(target); }

  const std::map<std::string, StableVerdict>& stable() const { return stable_; }
  // Seeds a target's stable cause (e.g. from an open incident after a restart).
  void Seed(const std::string& target, v1::Cause cause, int64_t since_ms);

 private:
  // One verdict for one target; appends a transition when the cause changes.
  void Step(std::shared_ptr<const Verdict> v, int64_t now_ms, std::vector<Transition>* out);

  int required_;
  uint64_t epoch_ = 0;
  std::map<std::string, StableVerdict> stable_;
};

}  // namespace parallax::collector::diagnosis
