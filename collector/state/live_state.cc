#include "collector/state/live_state.h"

#include <algorithm>
#include <set>

namespace parallax::collector {

void LiveState::UpdateResults(const std::string& probe,
                              std::span<const v1::CheckResult> results) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t newest = 0;
  for (const v1::CheckResult& r : results) {
    v1::CheckResult& held = s_.results[r.target()][probe];
    if (ResultTimeMs(r) >= ResultTimeMs(held)) {
      held = r;
      if (!changed_all_) changed_.insert(r.target());
    }
    newest = std::max(newest, r.received_unix_ms());
  }
  auto it = s_.probes.find(probe);
  if (it != s_.probes.end()) it->second.last_seen_ms = std::max(it->second.last_seen_ms, newest);
}

void LiveState::ProbeConnected(const v1::Hello& hello, const std::string& peer, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  ProbeState& p = s_.probes[hello.probe_name()];
  p.labels = {hello.labels().begin(), hello.labels().end()};
  p.version = hello.version();
  p.boot_id = hello.boot_id();
  p.peer = peer;
  p.connected = true;
  p.connected_since_ms = now_ms;
  p.last_seen_ms = now_ms;
}

void LiveState::ProbeDisconnected(const std::string& probe, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.probes.find(probe);
  if (it == s_.probes.end()) return;
  it->second.connected = false;
  it->second.last_seen_ms = std::max(it->second.last_seen_ms, now_ms);
}

void LiveState::ProbeHeartbeat(const std::string& probe, const v1::Heartbeat& hb,
                               int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.probes.find(probe);
  if (it == s_.probes.end()) return;
  it->second.heartbeat = hb;
  it->second.last_seen_ms = std::max(it->second.last_seen_ms, now_ms);
}

void LiveState::ProbeClock(const std::string& probe, int64_t offset_ms, int64_t rtt_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.probes.find(probe);
  if (it == s_.probes.end()) return;
  it->second.clock_measured = true;
  it->second.clock_offset_ms = offset_ms;
  it->second.clock_rtt_ms = rtt_ms;
}

void LiveState::ProbeSeen(const std::string& probe, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.probes.find(probe);
  if (it != s_.probes.end()) it->second.last_seen_ms = std::max(it->second.last_seen_ms, now_ms);
}

void LiveState::AddKnownProbe(const std::string& probe, const ProbeState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  s_.probes.emplace(probe, state);
}

void LiveState::RetainTargets(const std::vector<std::string>& keep) {
  std::set<std::string> k(keep.begin(), keep.end());
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = s_.results.begin(); it != s_.results.end();) {
    it = k.count(it->first) ? std::next(it) : s_.results.erase(it);
  }
  changed_.clear();
  changed_all_ = true;
}

LiveState::ChangedTargets LiveState::TakeChangedTargets() {
  ChangedTargets out;
  std::lock_guard<std::mutex> lock(mu_);
  out.targets.assign(changed_.begin(), changed_.end());
  out.all = changed_all_;
  changed_.clear();
  changed_all_ = false;
  return out;
}

void LiveState::VisitTargetResults(
    const std::string& target,
    const std::function<void(const std::map<std::string, v1::CheckResult>&)>& fn) const {
  static const std::map<std::string, v1::CheckResult> kNone;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.results.find(target);
  fn(it == s_.results.end() ? kNone : it->second);
}

StateSnapshot LiveState::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_;
}

std::map<std::string, ProbeState> LiveState::CopyProbes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_.probes;
}

std::map<std::string, v1::CheckResult> LiveState::CopyTargetResults(
    const std::string& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = s_.results.find(target);
  return it == s_.results.end() ? std::map<std::string, v1::CheckResult>() : it->second;
}

size_t LiveState::pair_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [target, probes] : s_.results) n += probes.size();
  return n;
}

}  // namespace parallax::collector
