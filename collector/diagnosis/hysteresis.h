// Hysteresis: a target's reported cause changes only after the engine has
// named the new cause in `required` consecutive evaluations, so one lost
// packet does not flap a verdict or open an incident. With evaluations every
// interval, a new verdict takes at most required x interval + timeout.
//
// Pure state machine: verdicts and time in, stable verdicts and transitions
// out; no I/O, no clock. Not thread-safe: one owner (the evaluator).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "collector/diagnosis/engine.h"

namespace parallax::collector::diagnosis {

struct Transition {
  std::string target;
  v1::Cause from = v1::CAUSE_UNKNOWN;
  v1::Cause to = v1::CAUSE_UNKNOWN;
  int64_t at_ms = 0;
  // The stable verdict after the change: points into this Hysteresis's
  // stable() map (not into Apply's argument); valid until the next Apply() or
  // Seed() of this Hysteresis.
  const Verdict* verdict = nullptr;
};

struct StableVerdict {
  Verdict verdict;        // the latest engine verdict whose cause is the stable one
  int64_t since_ms = 0;   // when the stable cause took effect
  v1::Cause pending = v1::CAUSE_UNSPECIFIED;  // a different cause seen, not yet confirmed
  int pending_count = 0;
};

class Hysteresis {
 public:
  explicit Hysteresis(int required) : required_(required < 1 ? 1 : required) {}

  // Feeds one evaluation; returns the transitions it caused. Targets missing
  // from `verdicts` are forgotten.
  std::vector<Transition> Apply(const std::vector<Verdict>& verdicts, int64_t now_ms);
  const std::map<std::string, StableVerdict>& stable() const { return stable_; }
  // Seeds a target's stable cause (e.g. from an open incident after a restart).
  void Seed(const std::string& target, v1::Cause cause, int64_t since_ms);

 private:
  int required_;
  std::map<std::string, StableVerdict> stable_;
};

}  // namespace parallax::collector::diagnosis
