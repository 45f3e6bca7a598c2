#include "collector/diagnosis/hysteresis.h"

namespace parallax::collector::diagnosis {

void Hysteresis::Seed(const std::string& target, v1::Cause cause, int64_t since_ms) {
  auto v = std::make_shared<Verdict>();
  v->target = target;
  v->cause = cause;
  StableVerdict& s = stable_[target];
  s.verdict = std::move(v);
  s.since_ms = since_ms;
  s.pending = v1::CAUSE_UNSPECIFIED;
  s.pending_count = 0;
  s.pending_verdict.reset();
}

void Hysteresis::Step(std::shared_ptr<const Verdict> v, int64_t now_ms,
                      std::vector<Transition>* out) {
  auto [it, inserted] = stable_.try_emplace(v->target);
  StableVerdict& s = it->second;
  s.epoch = epoch_;
  if (inserted) {
    auto first = std::make_shared<Verdict>();
    first->target = v->target;
    first->cause = v1::CAUSE_UNKNOWN;
    first->summary = "Not evaluated yet.";
    s.verdict = std::move(first);
    s.since_ms = now_ms;
  }
  if (v->cause == s.verdict->cause) {
    s.verdict = std::move(v);  // fresher evidence for the same cause
    s.pending = v1::CAUSE_UNSPECIFIED;
    s.pending_count = 0;
    s.pending_verdict.reset();
    return;
  }
  // Not yet evidence of a change (engine.h): neither counted nor forgotten.
  if (v->provisional) return;
  if (v->cause == s.pending) {
    ++s.pending_count;
  } else {
    s.pending = v->cause;
    s.pending_count = 1;
  }
  if (s.pending_count < required_) {
    s.pending_verdict = std::move(v);
    return;
  }
  Transition t;
  t.target = v->target;
  t.from = s.verdict->cause;
  t.to = v->cause;
  t.at_ms = now_ms;
  t.verdict = v;
  s.verdict = std::move(v);
  s.since_ms = now_ms;
  s.pending = v1::CAUSE_UNSPECIFIED;
  s.pending_count = 0;
  s.pending_verdict.reset();
  out->push_back(std::move(t));
}

namespace {

Hysteresis::SharedVerdicts Share(std::vector<Verdict> verdicts) {
  Hysteresis::SharedVerdicts out;
  out.reserve(verdicts.size());
  for (Verdict& v : verdicts) out.push_back(std::make_shared<const Verdict>(std::move(v)));
  return out;
}

}  // namespace

std::vector<Transition> Hysteresis::Apply(std::vector<Verdict> verdicts, int64_t now_ms) {
  return Apply(Share(std::move(verdicts)), now_ms);
}

std::vector<Transition> Hysteresis::ApplySome(std::vector<Verdict> verdicts, int64_t now_ms) {
  return ApplySome(Share(std::move(verdicts)), now_ms);
}

std::vector<Transition> Hysteresis::Apply(SharedVerdicts verdicts, int64_t now_ms) {
  std::vector<Transition> transitions;
  ++epoch_;
  for (auto& v : verdicts) Step(std::move(v), now_ms, &transitions);
  for (auto it = stable_.begin(); it != stable_.end();) {
    it = it->second.epoch == epoch_ ? std::next(it) : stable_.erase(it);
  }
  return transitions;
}

std::vector<Transition> Hysteresis::ApplySome(SharedVerdicts verdicts, int64_t now_ms) {
  std::vector<Transition> transitions;
  ++epoch_;
  for (auto& v : verdicts) Step(std::move(v), now_ms, &transitions);
  // The others: the engine would have named the same verdict again.
  std::vector<std::shared_ptr<const Verdict>> again;
  for (const auto& [target, s] : stable_) {
    if (s.pending_verdict && s.epoch != epoch_) again.push_back(s.pending_verdict);
  }
  for (auto& v : again) Step(std::move(v), now_ms, &transitions);
  return transitions;
}

}  // namespace parallax::collector::diagnosis
