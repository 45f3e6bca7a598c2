#include "collector/state/live_state.h"

#include <algorithm>
#include <limits>
#include <set>

namespace parallax::collector {

namespace {

int OutcomeIndex(int o) { return o < 0 || o >= v1::Outcome_ARRAYSIZE ? 0 : o; }

// When the pair's newest result arrived (its start if it never went through
// ingest's stamping).
int64_t ArrivalMs(const v1::CheckResult& r) {
  return r.received_unix_ms() != 0 ? r.received_unix_ms() : ResultTimeMs(r);
}

}  // namespace

size_t LiveState::ShardIndex(const std::string& target) {
  return std::hash<std::string>{}(target) % kShards;
}

LiveState::Shard& LiveState::ShardOf(const std::string& target) const {
  return shards_[ShardIndex(target)];
}

namespace {

// Keeps r's host key in the pair when it is verified and the newest.
void KeepHostKey(const v1::CheckResult& r, PairState* pair) {
  if (!r.has_host_key() || !r.host_key().error().empty() || r.host_key().fingerprint().empty()) {
    return;
  }
  if (ResultTimeMs(r) < pair->host_key_ms) return;
  pair->host_key = r.host_key();
  pair->host_key_ms = ResultTimeMs(r);
}

}  // namespace

void LiveState::MarkChanged(const std::string& target) {
  std::lock_guard<std::mutex> lock(changed_mu_);
  if (!changed_all_) changed_.insert(target);
}

void LiveState::UpdateResults(const std::string& probe, std::span<const v1::CheckResult> results) {
  MaybeExpire();
  // One lock per shard the batch touches, never two at once.
  std::array<std::vector<const v1::CheckResult*>, kShards> by_shard;
  int64_t newest = 0;
  for (const v1::CheckResult& r : results) {
    by_shard[ShardIndex(r.target())].push_back(&r);
    newest = std::max(newest, r.received_unix_ms());
  }
  std::vector<const std::string*> changed;  // targets whose newest result was replaced
  for (size_t i = 0; i < kShards; ++i) {
    if (by_shard[i].empty()) continue;
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    for (const v1::CheckResult* r : by_shard[i]) {
      PairState& pair = shards_[i].targets[r->target()][probe];
      uint32_t& count = pair.checks[OutcomeIndex(r->outcome())];
      if (count != std::numeric_limits<uint32_t>::max()) ++count;
      KeepHostKey(*r, &pair);
      if (ResultTimeMs(*r) >= ResultTimeMs(pair.newest)) {
        NotePairHistory(pair, *r);
        pair.newest = *r;
        changed.push_back(&r->target());
      }
    }
  }
  if (!changed.empty()) {
    std::lock_guard<std::mutex> lock(changed_mu_);
    if (!changed_all_) {
      for (const std::string* t : changed) changed_.insert(*t);
    }
  }
  UpdateProbeSeen(probe, newest);
}

void LiveState::SeedResult(const std::string& probe, const v1::CheckResult& result) {
  Shard& shard = ShardOf(result.target());
  std::lock_guard<std::mutex> lock(shard.mu);
  PairState& pair = shard.targets[result.target()][probe];
  KeepHostKey(result, &pair);
  if (ResultTimeMs(result) >= ResultTimeMs(pair.newest)) {
    NotePairHistory(pair, result);
    pair.newest = result;
  }
}

bool LiveState::ApplyPolledResult(const std::string& probe, const v1::CheckResult& result) {
  MaybeExpire();
  {
    Shard& shard = ShardOf(result.target());
    std::lock_guard<std::mutex> lock(shard.mu);
    PairState& pair = shard.targets[result.target()][probe];
    if (ResultTimeMs(result) <= ResultTimeMs(pair.newest)) return false;
    KeepHostKey(result, &pair);
    NotePairHistory(pair, result);
    pair.newest = result;
  }
  {
    std::lock_guard<std::mutex> lock(changed_mu_);
    if (!changed_all_) changed_.insert(result.target());
  }
  UpdateProbeSeen(probe, result.received_unix_ms());
  return true;
}

void LiveState::ProbeConnectedElsewhere(const std::string& probe, const std::string& collector,
                                        const std::map<std::string, std::string>& labels,
                                        const std::string& version, const std::string& boot_id,
                                        int64_t since_ms, int64_t seen_ms) {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  ProbeState& p = probes_[probe];
  if (p.connected && p.via_collector.empty()) return;  // connected here
  if (!p.connected || p.via_collector != collector) p.connected_since_ms = since_ms;
  p.labels = labels;
  p.version = version;
  p.boot_id = boot_id;
  p.peer.clear();
  p.via_collector = collector;
  p.connected = true;
  p.last_seen_ms = std::max(p.last_seen_ms, seen_ms);
}

void LiveState::ProbeGoneElsewhere(const std::string& probe, int64_t seen_ms) {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it == probes_.end() || it->second.via_collector.empty()) return;
  it->second.via_collector.clear();
  it->second.connected = false;
  it->second.last_seen_ms = std::max(it->second.last_seen_ms, seen_ms);
  if (ttl_ms_ > 0) next_expiry_ms_ = std::min(next_expiry_ms_, it->second.last_seen_ms + ttl_ms_);
}

namespace {

// "192.0.2.9:22" -> "192.0.2.9", "[2001:db8::1]:22" -> "2001:db8::1".
std::string HostOf(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

void NotePairHistory(PairState& pair, const v1::CheckResult& r) {
  const int64_t t = ResultTimeMs(r);
  if (r.outcome() == v1::OUTCOME_OK) {
    pair.last_ok_ms = t;
    pair.failing_since_ms = 0;
  } else if (r.outcome() != v1::OUTCOME_PROBE_ERROR && pair.failing_since_ms == 0) {
    pair.failing_since_ms = t;
  }
  if (!r.source_address().empty() && r.source_address().size() <= 64) {
    pair.source_address = r.source_address();
  }
  if (!r.address().empty() && !pair.newest.address().empty()) {
    std::string before = HostOf(pair.newest.address()), now = HostOf(r.address());
    if (before != now) {
      pair.previous_address = before.substr(0, 64);
      pair.address_changed_ms = t;
    }
  }
}

void LiveState::UpdateProbeSeen(const std::string& probe, int64_t seen_ms) {
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it != probes_.end()) it->second.last_seen_ms = std::max(it->second.last_seen_ms, seen_ms);
}

void LiveState::ProbeConnected(const v1::Hello& hello, const std::string& peer, int64_t now_ms) {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  ProbeState& p = probes_[hello.probe_name()];
  p.labels = {hello.labels().begin(), hello.labels().end()};
  p.version = hello.version();
  p.boot_id = hello.boot_id();
  p.peer = peer;
  p.via_collector.clear();
  p.connected = true;
  p.connected_since_ms = now_ms;
  p.last_seen_ms = now_ms;
}

void LiveState::ProbeDisconnected(const std::string& probe, int64_t now_ms) {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) return;
  // Already connected to another collector (its session seen since): that
  // one's connection stands.
  if (!it->second.via_collector.empty()) return;
  it->second.connected = false;
  it->second.last_seen_ms = std::max(it->second.last_seen_ms, now_ms);
  if (ttl_ms_ > 0) next_expiry_ms_ = std::min(next_expiry_ms_, it->second.last_seen_ms + ttl_ms_);
}

void LiveState::ProbeHeartbeat(const std::string& probe, const v1::Heartbeat& hb, int64_t now_ms) {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) return;
  ProbeState& p = it->second;
  p.heartbeat = hb;
  p.heartbeat_ms = now_ms;
  p.last_seen_ms = std::max(p.last_seen_ms, now_ms);
  if (p.dropped_boot_id != p.boot_id) {  // a restarted probe counts from 0 again
    p.dropped_boot_id = p.boot_id;
    p.dropped_seen = 0;
  }
  if (hb.dropped() > p.dropped_seen) {
    p.dropped_total += hb.dropped() - p.dropped_seen;
    p.dropped_seen = hb.dropped();
  }
}

void LiveState::ProbeClock(const std::string& probe, int64_t offset_ms, int64_t rtt_ms) {
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it == probes_.end()) return;
  it->second.clock_measured = true;
  it->second.clock_offset_ms = offset_ms;
  it->second.clock_rtt_ms = rtt_ms;
}

void LiveState::ProbeThrottled(const std::string& probe) {
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto it = probes_.find(probe);
  if (it != probes_.end()) ++it->second.throttled;
}

void LiveState::ProbeSeen(const std::string& probe, int64_t now_ms) {
  UpdateProbeSeen(probe, now_ms);
}

void LiveState::AddKnownProbe(const std::string& probe, const ProbeState& state) {
  std::lock_guard<std::mutex> lock(probes_mu_);
  auto [it, inserted] = probes_.emplace(probe, state);
  if (inserted && !state.connected && ttl_ms_ > 0) {
    next_expiry_ms_ = std::min(next_expiry_ms_, state.last_seen_ms + ttl_ms_);
  }
}

void LiveState::RetainTargets(const std::vector<std::string>& keep) {
  std::set<std::string> k(keep.begin(), keep.end());
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto it = shard.targets.begin(); it != shard.targets.end();) {
      it = k.count(it->first) ? std::next(it) : shard.targets.erase(it);
    }
  }
  MarkAllChanged();
}

void LiveState::MarkAllChanged() const {
  std::lock_guard<std::mutex> lock(changed_mu_);
  changed_.clear();
  changed_all_ = true;
}

LiveState::ChangedTargets LiveState::TakeChangedTargets() {
  ChangedTargets out;
  std::lock_guard<std::mutex> lock(changed_mu_);
  out.targets.assign(changed_.begin(), changed_.end());
  out.all = changed_all_;
  changed_.clear();
  changed_all_ = false;
  return out;
}

void LiveState::VisitTargetResults(const std::string& target,
                                   const std::function<void(const PairsOfTarget&)>& fn) const {
  static const PairsOfTarget kNone;
  const Shard& shard = ShardOf(target);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.targets.find(target);
  fn(it == shard.targets.end() ? kNone : it->second);
}

void LiveState::SetProbeTtl(int64_t ttl_ms, std::function<int64_t()> now_ms,
                            std::function<void(const std::string&)> on_expired) {
  {
    std::lock_guard<std::mutex> lock(probes_mu_);
    ttl_ms_ = std::max<int64_t>(ttl_ms, 0);
    if (now_ms) now_ms_ = std::move(now_ms);
    if (on_expired) on_expired_ = std::move(on_expired);
    RecomputeNextExpiryLocked();
  }
  MaybeExpire();
}

void LiveState::RecomputeNextExpiryLocked() const {
  next_expiry_ms_ = INT64_MAX;
  if (ttl_ms_ <= 0 || !now_ms_) return;
  for (const auto& [name, p] : probes_) {
    if (!p.connected) next_expiry_ms_ = std::min(next_expiry_ms_, p.last_seen_ms + ttl_ms_);
  }
}

std::vector<std::string> LiveState::ExpireProbes() {
  std::unique_lock<std::mutex> lock(probes_mu_);
  return ExpireLocked(&lock);
}

void LiveState::MaybeExpire() const {
  std::unique_lock<std::mutex> lock(probes_mu_);
  if (next_expiry_ms_ == INT64_MAX || !now_ms_ || now_ms_() < next_expiry_ms_) return;
  ExpireLocked(&lock);
}

std::vector<std::string> LiveState::ExpireLocked(std::unique_lock<std::mutex>* lock) const {
  std::vector<std::string> gone;
  if (ttl_ms_ <= 0 || !now_ms_) return gone;
  const int64_t now = now_ms_();
  std::map<std::string, int64_t> last_seen;  // expired probe -> its last_seen_ms
  for (auto it = probes_.begin(); it != probes_.end();) {
    const ProbeState& p = it->second;
    if (!p.connected && p.last_seen_ms + ttl_ms_ <= now) {
      last_seen[it->first] = p.last_seen_ms;
      gone.push_back(it->first);
      it = probes_.erase(it);
    } else {
      ++it;
    }
  }
  RecomputeNextExpiryLocked();
  auto on_expired = on_expired_;
  lock->unlock();
  if (gone.empty()) return gone;
  // Their results, shard by shard. A result that arrived after the probe's
  // last_seen belongs to a new stream of the same name (it came back between
  // the two steps) and stays.
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> shard_lock(shard.mu);
    for (auto t = shard.targets.begin(); t != shard.targets.end();) {
      for (const auto& [probe, seen_ms] : last_seen) {
        auto pair = t->second.find(probe);
        if (pair != t->second.end() && ArrivalMs(pair->second.newest) <= seen_ms) {
          t->second.erase(pair);
        }
      }
      t = t->second.empty() ? shard.targets.erase(t) : std::next(t);
    }
  }
  MarkAllChanged();  // the evaluator re-reads every target without them
  if (on_expired) {
    for (const std::string& probe : gone) on_expired(probe);
  }
  return gone;
}

StateSnapshot LiveState::Snapshot() const {
  MaybeExpire();
  StateSnapshot s;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [target, pairs] : shard.targets) {
      auto& out = s.results[target];
      for (const auto& [probe, pair] : pairs) out.emplace(probe, pair.newest);
    }
  }
  std::lock_guard<std::mutex> lock(probes_mu_);
  s.probes = probes_;
  return s;
}

std::map<std::string, ProbeState> LiveState::CopyProbes() const {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  return probes_;
}

std::map<std::string, v1::CheckResult> LiveState::CopyTargetResults(
    const std::string& target) const {
  MaybeExpire();
  std::map<std::string, v1::CheckResult> out;
  const Shard& shard = ShardOf(target);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.targets.find(target);
  if (it == shard.targets.end()) return out;
  for (const auto& [probe, pair] : it->second) out.emplace_hint(out.end(), probe, pair.newest);
  return out;
}

size_t LiveState::pair_count() const {
  MaybeExpire();
  size_t n = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [target, pairs] : shard.targets) n += pairs.size();
  }
  return n;
}

size_t LiveState::probe_count() const {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  return probes_.size();
}

void LiveState::VisitProbes(
    const std::function<void(const std::string&, const ProbeState&)>& fn) const {
  MaybeExpire();
  std::lock_guard<std::mutex> lock(probes_mu_);
  for (const auto& [name, p] : probes_) fn(name, p);
}

void LiveState::VisitTargets(
    const std::function<void(const std::string&, const PairsOfTarget&)>& fn) const {
  MaybeExpire();
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [target, pairs] : shard.targets) fn(target, pairs);
  }
}

}  // namespace parallax::collector
