#include "collector/diagnosis/fleet.h"

#include <algorithm>

#include "collector/diagnosis/classify.h"
#include "collector/diagnosis/wording.h"

namespace parallax::collector::diagnosis {
namespace {

std::string NetworkName(const std::string& probe, const Labels& labels) {
  auto it = labels.find("network");
  return it != labels.end() && !it->second.empty() ? it->second : "probe:" + probe;
}

}  // namespace

bool FleetContext::SameFacts(const FleetContext& other) const {
  if (probes.size() != other.probes.size()) return false;
  for (size_t i = 0; i < probes.size(); ++i) {
    const ProbeFacts& a = probes[i];
    const ProbeFacts& b = other.probes[i];
    if (a.probe != b.probe || a.network != b.network || a.healthy != b.healthy ||
        a.reaches_some != b.reaches_some || a.network_blocked != b.network_blocked) {
      return false;
    }
  }
  // The set-aside note of a verdict names every blocked network.
  return blocked_networks == other.blocked_networks && stale_intervals == other.stale_intervals;
}

const ProbeFacts* FleetContext::Find(std::string_view probe) const {
  auto it =
      std::lower_bound(probes.begin(), probes.end(), probe,
                       [](const ProbeFacts& f, std::string_view name) { return f.probe < name; });
  return it != probes.end() && it->probe == probe ? &*it : nullptr;
}

Fleet::Fleet(int stale_intervals) : stale_intervals_(stale_intervals) {}

int Fleet::Probe(std::string_view name) {
  auto [it, inserted] =
      probe_index_.try_emplace(std::string(name), static_cast<int>(probes_.size()));
  if (inserted) {
    ProbeState& p = probes_.emplace_back();
    p.name = std::string(name);
    p.network = NetworkIndex(NetworkName(p.name, {}));
  }
  return it->second;
}

int Fleet::Target(std::string_view name) {
  auto [it, inserted] =
      target_index_.try_emplace(std::string(name), static_cast<int>(targets_.size()));
  if (inserted) targets_.emplace_back().name = std::string(name);
  return it->second;
}

int Fleet::NetworkIndex(const std::string& name) {
  auto [it, inserted] = network_index_.try_emplace(name, static_cast<int>(networks_.size()));
  if (inserted) networks_.push_back(name);
  return it->second;
}

int64_t Fleet::Window(const TargetState& t) const {
  return stale_intervals_ * t.interval_ms + t.timeout_ms;
}

int64_t Fleet::ExpiryOf(int target, const Slot& s) const {
  return s.received_ms + Window(targets_[target]);
}

void Fleet::SetProbe(int probe, const ProbeInput& input) {
  ProbeState& p = probes_[probe];
  int network = NetworkIndex(NetworkName(p.name, input.labels));
  if (network != p.network) {
    // Its fresh ok results count for the new network now.
    for (size_t t = 0; t < p.slots.size(); ++t) {
      if (p.slots[t].fresh) Count(probe, static_cast<int>(t), -1);
    }
    p.network = network;
    for (size_t t = 0; t < p.slots.size(); ++t) {
      if (p.slots[t].fresh) Count(probe, static_cast<int>(t), +1);
    }
  }
  p.known = true;
  p.input = input;
}

void Fleet::ForgetProbe(int probe) {
  probes_[probe].known = false;
  probes_[probe].input = ProbeInput();
}

void Fleet::SetTarget(int target, int64_t interval_ms, int64_t timeout_ms) {
  TargetState& t = targets_[target];
  if (t.has_window && t.interval_ms == interval_ms && t.timeout_ms == timeout_ms) return;
  if (t.has_window) {
    if (--intervals_[t.interval_ms] == 0) intervals_.erase(t.interval_ms);
    if (--timeouts_[t.timeout_ms] == 0) timeouts_.erase(t.timeout_ms);
  }
  t.has_window = true;
  t.interval_ms = interval_ms;
  t.timeout_ms = timeout_ms;
  ++intervals_[interval_ms];
  ++timeouts_[timeout_ms];
  for (size_t p = 0; p < probes_.size(); ++p) {
    if (static_cast<size_t>(target) < probes_[p].slots.size() && probes_[p].slots[target].present) {
      Refresh(static_cast<int>(p), target);
    }
  }
}

void Fleet::ForgetTarget(int target) {
  for (size_t p = 0; p < probes_.size(); ++p) {
    if (static_cast<size_t>(target) < probes_[p].slots.size()) {
      Update(static_cast<int>(p), target, nullptr, 0);
    }
  }
  TargetState& t = targets_[target];
  if (t.has_window) {
    if (--intervals_[t.interval_ms] == 0) intervals_.erase(t.interval_ms);
    if (--timeouts_[t.timeout_ms] == 0) timeouts_.erase(t.timeout_ms);
  }
  t.has_window = false;
}

void Fleet::Count(int probe, int target, int sign) {
  ProbeState& p = probes_[probe];
  Slot& s = p.slots[target];
  fresh_total_ += sign;
  if (s.probe_error()) {  // not an observation of the target: counted apart
    p.errors += sign;
    return;
  }
  p.fresh += sign;
  if (s.alive()) p.alive += sign;
  if (s.ok) {
    p.ok += sign;
    auto& by_net = targets_[target].ok_by_network;
    auto it = std::find_if(by_net.begin(), by_net.end(),
                           [&](const std::pair<int, int>& e) { return e.first == p.network; });
    if (it == by_net.end()) {
      by_net.emplace_back(p.network, sign);
    } else if ((it->second += sign) == 0) {
      *it = by_net.back();
      by_net.pop_back();
    }
  } else if (sign > 0) {
    s.fail_pos = static_cast<int32_t>(p.fails.size());
    p.fails.push_back(target);
  } else {
    int moved = p.fails.back();
    p.fails[s.fail_pos] = moved;
    p.slots[moved].fail_pos = s.fail_pos;
    p.fails.pop_back();
    s.fail_pos = -1;
  }
}

void Fleet::Refresh(int probe, int target) {
  Slot& s = probes_[probe].slots[target];
  if (s.fresh) {
    Count(probe, target, -1);
    s.fresh = false;
  }
  const TargetState& t = targets_[target];
  if (!s.present || !t.has_window) return;
  const int64_t expiry = s.received_ms + Window(t);
  if (now_ > expiry) return;
  s.fresh = true;
  Count(probe, target, +1);
  if (track_expiry_) added_.push_back({expiry, probe, target});
}

void Fleet::Update(int probe, int target, const v1::CheckResult* after, int64_t received_ms) {
  ProbeState& p = probes_[probe];
  if (p.slots.size() <= static_cast<size_t>(target)) {
    if (after == nullptr) return;
    p.slots.resize(targets_.size());
  }
  Slot& s = p.slots[target];
  const bool probe_error = after != nullptr && after->outcome() == v1::OUTCOME_PROBE_ERROR;
  const bool ok = after != nullptr && after->outcome() == v1::OUTCOME_OK;
  const Slot::Answer answer = after == nullptr            ? Slot::kNone
                              : probe_error               ? Slot::kProbeError
                              : SomethingAnswered(*after) ? Slot::kAlive
                                                          : Slot::kNone;
  if (after != nullptr && s.present && s.received_ms == received_ms && s.ok == ok &&
      s.answer == answer && !probe_error) {
    return;  // the same facts at the same time: nothing changes (a re-read)
  }
  if (s.fresh) {
    Count(probe, target, -1);
    s.fresh = false;
  }
  if (after == nullptr) {
    s = Slot();
    if (!p.error_details.empty()) p.error_details.erase(target);
    return;
  }
  s.present = true;
  s.received_ms = received_ms;
  s.ok = ok;
  s.answer = answer;
  if (probe_error) {
    // Kept (bounded) to say why the probe cannot run checks; rare.
    p.error_details[target] = after->detail().substr(0, 256);
  } else if (!p.error_details.empty()) {
    p.error_details.erase(target);
  }
  Refresh(probe, target);
}

std::vector<int> Fleet::Advance(int64_t now_ms) {
  std::vector<int> expired;
  if (now_ms <= now_) return expired;
  now_ = now_ms;
  MergeAdded();
  while (!expiries_.empty() && expiries_.front().at < now_) {
    std::pop_heap(expiries_.begin(), expiries_.end(), std::greater<Expiry>());
    Expiry e = expiries_.back();
    expiries_.pop_back();
    Slot& s = probes_[e.probe].slots[e.target];
    if (!s.fresh || ExpiryOf(e.target, s) != e.at) continue;  // superseded
    Count(e.probe, e.target, -1);
    s.fresh = false;
    expired.push_back(e.target);
  }
  std::sort(expired.begin(), expired.end());
  expired.erase(std::unique(expired.begin(), expired.end()), expired.end());
  // The heap keeps superseded entries until they surface: rebuild it when
  // they outnumber the fresh results.
  if (expiries_.size() > 1024 && static_cast<int64_t>(expiries_.size()) > 4 * fresh_total_) {
    std::vector<Expiry> live;
    live.reserve(static_cast<size_t>(fresh_total_));
    for (size_t p = 0; p < probes_.size(); ++p) {
      for (size_t t = 0; t < probes_[p].slots.size(); ++t) {
        const Slot& s = probes_[p].slots[t];
        if (s.fresh) {
          live.push_back(
              {ExpiryOf(static_cast<int>(t), s), static_cast<int>(p), static_cast<int>(t)});
        }
      }
    }
    expiries_ = std::move(live);
    std::make_heap(expiries_.begin(), expiries_.end(), std::greater<Expiry>());
  }
  return expired;
}

void Fleet::MergeAdded() {
  if (added_.empty()) return;
  if (added_.size() > expiries_.size()) {  // e.g. a full read: one O(n) heapify
    expiries_.insert(expiries_.end(), added_.begin(), added_.end());
    std::make_heap(expiries_.begin(), expiries_.end(), std::greater<Expiry>());
  } else {
    for (const Expiry& e : added_) {
      expiries_.push_back(e);
      std::push_heap(expiries_.begin(), expiries_.end(), std::greater<Expiry>());
    }
  }
  added_.clear();
}

int64_t Fleet::NextExpiry() {
  MergeAdded();
  while (!expiries_.empty()) {
    const Expiry& e = expiries_.front();
    const Slot& s = probes_[e.probe].slots[e.target];
    if (s.fresh && ExpiryOf(e.target, s) == e.at) return e.at + 1;
    std::pop_heap(expiries_.begin(), expiries_.end(), std::greater<Expiry>());
    expiries_.pop_back();
  }
  return std::numeric_limits<int64_t>::max();
}

bool Fleet::PreHealthy(const ProbeState& p) const {
  if (!p.known || !p.input.connected) return false;
  if (intervals_.empty() || intervals_.begin()->first <= 0) return true;
  int64_t max_timeout = std::max<int64_t>(0, timeouts_.rbegin()->first);
  return now_ - p.input.last_seen_ms <= stale_intervals_ * intervals_.begin()->first + max_timeout;
}

bool Fleet::ReachedElsewhere(int target, int network, const std::vector<int>& excluded) const {
  for (const auto& [net, count] : targets_[target].ok_by_network) {
    if (net == network) continue;
    int n = count;
    // Fresh oks of probes that are not (pre-)healthy do not count.
    for (int u : excluded) {
      const ProbeState& p = probes_[u];
      if (p.network == net && static_cast<size_t>(target) < p.slots.size() &&
          p.slots[target].fresh && p.slots[target].ok) {
        --n;
      }
    }
    if (n > 0) return true;
  }
  return false;
}

FleetContext Fleet::Context() const {
  FleetContext ctx;
  ctx.now_ms = now_;
  ctx.stale_intervals = stale_intervals_;
  const size_t n = probes_.size();
  std::vector<Unhealthy> why(n, Unhealthy::kNo);
  std::vector<int> excluded;  // not healthy before rule 1, with fresh oks
  for (size_t i = 0; i < n; ++i) {
    const ProbeState& p = probes_[i];
    if (!PreHealthy(p)) {
      why[i] = p.input.connected ? Unhealthy::kSilent : Unhealthy::kDisconnected;
      if (p.ok > 0) excluded.push_back(static_cast<int>(i));
    }
  }
  // 1b. Probes that cannot run checks: most of their fresh results are
  //     probe_error (out of descriptors, no local port, ...).
  for (size_t i = 0; i < n; ++i) {
    const ProbeState& p = probes_[i];
    if (!p.known || why[i] != Unhealthy::kNo || p.errors == 0) continue;
    if (2 * p.errors > p.errors + p.fresh) {
      why[i] = Unhealthy::kProbeErrors;
      if (p.ok > 0) excluded.push_back(static_cast<int>(i));
    }
  }
  // 1c. Isolated probes: fail everything (two targets at least), nothing
  //     answers them, while a healthy probe elsewhere reaches one of those.
  for (size_t i = 0; i < n; ++i) {
    const ProbeState& p = probes_[i];
    if (!p.known || why[i] != Unhealthy::kNo || p.fresh < 2 || p.ok > 0 || p.alive > 0) continue;
    for (int t : p.fails) {
      if (ReachedElsewhere(t, p.network, excluded)) {
        why[i] = Unhealthy::kIsolated;
        break;
      }
    }
  }
  // 1d. SSH egress filtered in front of one probe: it fails SSH to every
  //     target (two at least), answers come back to it (so its network is
  //     up), another healthy probe of ITS OWN network reads SSH (so the
  //     network as a whole is not blocked: that is rule 2), and other probes
  //     reach two of its failed targets at least.
  std::vector<int> reaching(networks_.size(), 0);  // healthy probes with a fresh ok, by network
  for (size_t i = 0; i < n; ++i) {
    if (probes_[i].known && why[i] == Unhealthy::kNo && probes_[i].ok > 0) {
      ++reaching[probes_[i].network];
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const ProbeState& p = probes_[i];
    if (!p.known || why[i] != Unhealthy::kNo || p.fresh < 2 || p.ok > 0 || p.alive == 0 ||
        reaching[p.network] == 0) {
      continue;
    }
    int reached = 0;
    for (int t : p.fails) {
      if (ReachedElsewhere(t, /*network=*/-1, excluded) && ++reached == 2) break;
    }
    if (reached == 2) why[i] = Unhealthy::kSshEgressBlocked;
  }
  // 2. Blocked networks: each healthy probe of the network has fresh results
  //    and fails SSH to every target it checks, two or more of which other
  //    networks reach.
  std::vector<std::vector<int>> members(networks_.size());
  for (size_t i = 0; i < n; ++i) {
    if (probes_[i].known && why[i] == Unhealthy::kNo) {
      members[probes_[i].network].push_back(static_cast<int>(i));
    }
  }
  std::vector<bool> blocked(networks_.size(), false);
  for (size_t net = 0; net < members.size(); ++net) {
    if (members[net].empty()) continue;
    bool all_fail = true;
    for (int i : members[net]) all_fail &= probes_[i].fresh > 0 && probes_[i].ok == 0;
    if (!all_fail) continue;
    int first = -1;
    for (int i : members[net]) {
      for (int t : probes_[i].fails) {
        if (t == first || !ReachedElsewhere(t, static_cast<int>(net), excluded)) continue;
        if (first >= 0) {
          blocked[net] = true;
          break;
        }
        first = t;
      }
      if (blocked[net]) break;
    }
    if (blocked[net]) ctx.blocked_networks.push_back(networks_[net]);
  }
  std::sort(ctx.blocked_networks.begin(), ctx.blocked_networks.end());

  std::vector<int> listed;
  for (size_t i = 0; i < n; ++i) {
    if (probes_[i].known) listed.push_back(static_cast<int>(i));
  }
  std::sort(listed.begin(), listed.end(),
            [&](int a, int b) { return probes_[a].name < probes_[b].name; });
  ctx.health.reserve(listed.size());
  ctx.probes.reserve(listed.size());
  for (int i : listed) {
    const ProbeState& p = probes_[i];
    ProbeFacts& f = ctx.probes.emplace_back();
    f.probe = p.name;
    f.network = networks_[p.network];
    f.network_id = p.network;
    f.healthy = why[i] == Unhealthy::kNo;
    f.reaches_some = p.ok > 0;
    f.network_blocked = blocked[p.network];
    f.why = why[i];
    f.silent_ms = f.why == Unhealthy::kSilent ? now_ - p.input.last_seen_ms : 0;
    f.fresh = p.fresh;
    f.probe_errors = p.errors;
    f.ssh_egress_blocked = f.why == Unhealthy::kSshEgressBlocked;
    const std::string* pick = nullptr;
    if (f.why == Unhealthy::kProbeErrors) {
      // The smallest detail of its fresh probe_error results: the same
      // whatever order the results came in.
      for (const auto& [t, detail] : p.error_details) {
        if (p.slots[t].fresh && (pick == nullptr || detail < *pick)) pick = &detail;
      }
    }
    ProbeHealth& h = ctx.health.emplace_back();
    h.probe = p.name;
    h.labels = p.input.labels;
    h.healthy = f.healthy;
    h.reason = HealthReason(f, pick != nullptr ? std::string_view(*pick) : std::string_view());
    h.ssh_egress_blocked = f.ssh_egress_blocked;
    h.cannot_run_checks = f.why == Unhealthy::kProbeErrors;
  }
  return ctx;
}

}  // namespace parallax::collector::diagnosis
