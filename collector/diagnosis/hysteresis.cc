#include "collector/diagnosis/hysteresis.h"

#include <set>

namespace parallax::collector::diagnosis {

void Hysteresis::Seed(const std::string& target, v1::Cause cause, int64_t since_ms) {
  StableVerdict& s = stable_[target];
  s.verdict.target = target;
  s.verdict.cause = cause;
  s.since_ms = since_ms;
}

std::vector<Transition> Hysteresis::Apply(const std::vector<Verdict>& verdicts, int64_t now_ms) {
  std::vector<Transition> transitions;
  std::set<std::string> seen;
  for (const Verdict& v : verdicts) {
    seen.insert(v.target);
    auto [it, inserted] = stable_.try_emplace(v.target);
    StableVerdict& s = it->second;
    if (inserted) {
      s.verdict.target = v.target;
      s.verdict.cause = v1::CAUSE_UNKNOWN;
      s.verdict.summary = "Not evaluated yet.";
      s.since_ms = now_ms;
    }
    if (v.cause == s.verdict.cause) {
      s.verdict = v;  // fresher evidence for the same cause
      s.pending = v1::CAUSE_UNSPECIFIED;
      s.pending_count = 0;
      continue;
    }
    if (v.cause == s.pending) {
      ++s.pending_count;
    } else {
      s.pending = v.cause;
      s.pending_count = 1;
    }
    if (s.pending_count >= required_) {
      Transition t;
      t.target = v.target;
      t.from = s.verdict.cause;
      t.to = v.cause;
      t.at_ms = now_ms;
      s.verdict = v;
      s.since_ms = now_ms;
      s.pending = v1::CAUSE_UNSPECIFIED;
      s.pending_count = 0;
      transitions.push_back(t);
    }
  }
  for (auto it = stable_.begin(); it != stable_.end();) {
    it = seen.count(it->first) ? std::next(it) : stable_.erase(it);
  }
  for (Transition& t : transitions) t.verdict = &stable_.at(t.target).verdict;
  return transitions;
}

}  // namespace parallax::collector::diagnosis
