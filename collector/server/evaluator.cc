#include "collector/server/evaluator.h"

#include <algorithm>

#include "common/log.h"
#include "common/words.h"

namespace parallax::collector {
namespace {

bool IsFailure(v1::Cause c) {
  return c != v1::CAUSE_OK && c != v1::CAUSE_UNKNOWN && c != v1::CAUSE_UNSPECIFIED;
}

}  // namespace

Evaluator::Evaluator(Store* store, World* world, Metrics* metrics,
                     std::function<ConfigSnapshot()> config, std::function<int64_t()> now_ms)
    : store_(store),
      world_(world),
      state_(&world->live()),
      metrics_(metrics),
      config_(std::move(config)),
      now_ms_(std::move(now_ms)) {}

Evaluator::~Evaluator() { Stop(); }

std::chrono::milliseconds Evaluator::Period() const {
  ConfigSnapshot snap = config_();
  std::chrono::milliseconds p = snap.config->diagnosis.evaluate_every;
  if (p.count() == 0) {
    p = std::chrono::seconds(10);
    for (const TargetConfig& t : snap.config->targets) p = std::min(p, t.interval);
  }
  return std::max(p, std::chrono::milliseconds(200));
}

void Evaluator::Start() {
  thread_ = std::thread([this] {
    while (true) {
      EvaluateOnce();
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, Period(), [this] { return stopping_; })) return;
    }
  });
}

void Evaluator::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Evaluator::BeginStartupGrace(const Config& config, int64_t now) {
  int64_t max_interval = 0, max_timeout = 0;
  for (const TargetConfig& t : config.targets) {
    max_interval = std::max<int64_t>(max_interval, t.interval.count());
    max_timeout = std::max<int64_t>(max_timeout, t.timeout.count());
  }
  // Active before: a result within the engine's stale window (3 intervals +
  // timeout) of the newest result stored before the start (the collector's
  // clock), or of now if that is earlier. Not of now alone: a store that
  // lagged behind its queue when the collector was killed (a starved
  // machine: its newest commit 10 s old) would make every probe look gone.
  std::map<std::string, int64_t> last_result;  // probe -> its newest result's time
  int64_t newest = 0;
  for (const TargetConfig& t : config.targets) {
    state_->VisitTargetResults(t.name, [&](const LiveState::PairsOfTarget& rs) {
      for (const auto& [probe, pair] : rs) {
        int64_t& at = last_result[probe];
        at = std::max(at, ResultTimeMs(pair.newest));
        newest = std::max(newest, at);
      }
    });
  }
  const int64_t active_since = std::min(now, newest) - (3 * max_interval + max_timeout);
  for (const auto& [probe, at] : last_result) {
    if (at >= active_since) awaited_.insert(probe);
  }
  grace_start_ms_ = now;
  grace_until_ms_ = now + 2 * max_interval + max_timeout;
  if (awaited_.empty()) {
    grace_over_ = true;
    return;
  }
  Logf(LogLevel::kInfo,
       "start-up: %zu probes were active before; no verdict changes until they reconnect "
       "(at most %lld ms)",
       awaited_.size(), static_cast<long long>(grace_until_ms_ - now));
}

bool Evaluator::InStartupGrace(int64_t now, const std::map<std::string, ProbeState>& probes) {
  if (grace_over_) return false;
  std::string missing;
  for (const std::string& p : awaited_) {
    auto it = probes.find(p);
    if (it == probes.end() || !it->second.connected) missing += (missing.empty() ? "" : ", ") + p;
  }
  if (!missing.empty() && now < grace_until_ms_) return true;
  grace_over_ = true;
  if (missing.empty()) {
    Logf(LogLevel::kInfo, "start-up: every probe active before is back after %lld ms",
         static_cast<long long>(now - grace_start_ms_));
  } else {
    Logf(LogLevel::kWarning, "start-up: grace of %lld ms over; not reconnected: %s",
         static_cast<long long>(grace_until_ms_ - grace_start_ms_), missing.c_str());
  }
  return false;
}

void Evaluator::UpdateProbes(const std::map<std::string, ProbeState>& probes) {
  auto id = probe_ids_.begin();
  for (const auto& [name, p] : probes) {
    while (id != probe_ids_.end() && id->first < name) ++id;
    if (id == probe_ids_.end() || id->first != name) {
      id = probe_ids_.emplace_hint(id, name, fleet_->Probe(name));
    }
    auto [in, inserted] = probe_inputs_.try_emplace(name);
    if (!inserted && in->second.connected == p.connected &&
        in->second.last_seen_ms == p.last_seen_ms && in->second.labels == p.labels) {
      continue;
    }
    in->second = {p.labels, p.connected, p.last_seen_ms};
    fleet_->SetProbe(id->second, in->second);
  }
  // LiveState never forgets a probe today; if it does, the Fleet follows.
  for (auto it = probe_inputs_.begin(); it != probe_inputs_.end();) {
    if (probes.count(it->first)) {
      ++it;
      continue;
    }
    fleet_->ForgetProbe(probe_ids_.at(it->first));
    it = probe_inputs_.erase(it);
  }
}

void Evaluator::ReadTarget(size_t index) {
  const int target = fleet_targets_[index];
  state_->VisitTargetResults(fleet_config_->targets[index].name,
                             [&](const LiveState::PairsOfTarget& results) {
                               // Both maps are ordered by probe name: walk them side by side.
                               auto id = probe_ids_.begin();
                               for (const auto& [probe, pair] : results) {
                                 const v1::CheckResult& r = pair.newest;
                                 while (id != probe_ids_.end() && id->first < probe) ++id;
                                 if (id == probe_ids_.end() || id->first != probe) {
                                   id = probe_ids_.emplace_hint(id, probe, fleet_->Probe(probe));
                                 }
                                 fleet_->Update(id->second, target, &r, ResultTimeMs(r));
                               }
                             });
}

std::shared_ptr<const diagnosis::Verdict> Evaluator::DiagnoseOne(
    size_t index, const diagnosis::FleetContext& ctx) {
  const TargetConfig& t = fleet_config_->targets[index];
  diagnosis::TargetInput ti;
  ti.name = t.name;
  ti.host = t.host;
  ti.port = t.port;
  ti.interval_ms = t.interval.count();
  ti.timeout_ms = t.timeout.count();
  // The target's verdict in force (or pending): kept as it is when the new
  // one would be worded the same (an unchanged ok verdict; its ages and
  // connect times are read from the newest results by Explain anyway).
  std::shared_ptr<const diagnosis::Verdict> previous;
  if (auto it = hysteresis_->stable().find(t.name); it != hysteresis_->stable().end()) {
    previous = it->second.pending_verdict ? it->second.pending_verdict : it->second.verdict;
  }
  std::shared_ptr<const diagnosis::Verdict> v;
  if (!t.host_keys.empty()) {
    ti.pinned_keys = t.host_keys;  // from the config: they win
  } else {
    ti.pinned_keys = state_->host_key_pins().Get(t.name);
  }
  // Diagnosed under LiveState's lock (one target, tens of microseconds): the
  // engine reads the results through pointers, nothing is copied.
  state_->VisitTargetResults(t.name, [&](const LiveState::PairsOfTarget& results) {
    ti.results.reserve(results.size());
    for (const auto& [probe, pair] : results) {
      const v1::CheckResult& r = pair.newest;
      // Judged on the collector's clock: the check's start corrected by the
      // probe's measured clock offset, never later than its arrival
      // (ResultTimeMs), so a probe's wrong clock neither hides its fresh
      // results nor keeps its old ones alive.
      const v1::HostKey* key = pair.host_key.fingerprint().empty() ? nullptr : &pair.host_key;
      ti.results.push_back({probe, &r, ResultTimeMs(r), pair.last_ok_ms, pair.failing_since_ms,
                            pair.source_address, key});  // in probe order (a map)
    }
    if (ti.pinned_keys.empty()) {
      // Trust on first use: the key most vantage points see (the smallest
      // fingerprint on a tie), pinned and persisted.
      std::map<std::string, int> seen;
      for (const diagnosis::Observation& o : ti.results) {
        if (o.host_key != nullptr) ++seen[o.host_key->fingerprint()];
      }
      auto best = seen.end();
      for (auto it = seen.begin(); it != seen.end(); ++it) {
        if (best == seen.end() || it->second > best->second) best = it;
      }
      if (best != seen.end()) {
        ti.pinned_keys = state_->host_key_pins().PinIfNone(t.name, {best->first}, ctx.now_ms);
      }
    }
    v = diagnosis::DiagnoseTarget(ti, ctx, previous);
  });
  return v;
}

void Evaluator::Reset() {
  hysteresis_.reset();
  hysteresis_required_ = 0;
  probe_health_published_.clear();
  open_incidents_.clear();
  grace_over_ = false;
  grace_start_ms_ = grace_until_ms_ = 0;
  awaited_.clear();
  fleet_config_.reset();
  fleet_.reset();
  need_full_ = true;
  since_full_ = 0;
}

void Evaluator::EvaluateOnce() {
  if (lead_) {
    const bool leader = lead_();
    if (!leader) {
      if (leading_) {
        // A follower's World holds no verdicts: nothing stale to serve.
        Reset();
        world_->Publish(std::make_shared<Verdicts>());
      }
      leading_ = false;
      return;
    }
    if (!leading_) {
      leading_ = true;
      Reset();  // start over from the store, as at start-up
    }
  }
  ConfigSnapshot snap = config_();
  const Config& config = *snap.config;
  int64_t now = now_ms_();
  if (!hysteresis_ || hysteresis_required_ != config.diagnosis.hysteresis) {
    hysteresis_required_ = config.diagnosis.hysteresis;
    auto next = std::make_unique<diagnosis::Hysteresis>(hysteresis_required_);
    if (hysteresis_) {
      for (const auto& [target, s] : hysteresis_->stable())
        next->Seed(target, s.verdict->cause, s.since_ms);
    } else {
      std::vector<IncidentRecord> open;
      if (store_->ListIncidents("", true, 100000, &open).ok()) {
        for (const IncidentRecord& i : open) {
          open_incidents_[i.target] = static_cast<v1::Cause>(i.cause);
          next->Seed(i.target, static_cast<v1::Cause>(i.cause),
                     i.changes.empty() ? i.opened_ms : i.changes.back().at_ms);
        }
      }
    }
    const bool first = !hysteresis_;
    hysteresis_ = std::move(next);
    need_full_ = true;
    if (first) BeginStartupGrace(config, now);
  }

  std::map<std::string, ProbeState> probes = state_->CopyProbes();
  if (InStartupGrace(now, probes)) {
    // Publish the seeded stable causes as they are; change nothing. (The
    // changed targets keep accumulating in LiveState; the first evaluation
    // after the grace is a full one.)
    auto published = std::make_shared<Verdicts>();
    published->evaluated_ms = now;
    published->config = snap.config;
    for (const TargetConfig& t : config.targets) {
      auto it = hysteresis_->stable().find(t.name);
      if (it == hysteresis_->stable().end()) continue;
      std::shared_ptr<const diagnosis::Verdict> v = it->second.verdict;
      if (v->summary.empty()) {
        auto restored = std::make_shared<diagnosis::Verdict>(*v);
        restored->summary =
            "Restored from the open incident at start-up; waiting for the probes to reconnect.";
        v = std::move(restored);
      }
      published->verdicts.push_back({std::move(v), &t, it->second.since_ms});
    }
    published->probe_state = std::move(probes);
    published->open_incidents = open_incidents_;
    world_->Publish(std::move(published));
    return;
  }

  LiveState::ChangedTargets changed = state_->TakeChangedTargets();
  const bool full = need_full_ || changed.all || snap.config != fleet_config_ ||
                    (full_every_ > 0 && since_full_ + 1 >= full_every_);
  std::vector<size_t> dirty;  // config target indices
  if (full) {
    // A new Fleet read from the whole LiveState: whatever an incremental
    // evaluation could have missed is gone.
    fleet_config_ = snap.config;
    fleet_ = std::make_unique<diagnosis::Fleet>(diagnosis::Input().stale_intervals);
    fleet_targets_.clear();
    target_index_.clear();
    probe_ids_.clear();
    probe_inputs_.clear();
    fleet_->Advance(now);
    for (size_t i = 0; i < config.targets.size(); ++i) {
      const TargetConfig& t = config.targets[i];
      fleet_targets_.push_back(fleet_->Target(t.name));
      fleet_->SetTarget(fleet_targets_.back(), t.interval.count(), t.timeout.count());
      target_index_[t.name].push_back(i);
    }
    UpdateProbes(probes);
    for (size_t i = 0; i < config.targets.size(); ++i) ReadTarget(i);
    need_full_ = false;
    since_full_ = 0;
  } else {
    ++since_full_;
    for (int t : fleet_->Advance(now)) {  // fresh results that went stale
      const auto& idx = target_index_.at(fleet_->TargetName(t));
      dirty.insert(dirty.end(), idx.begin(), idx.end());
    }
    UpdateProbes(probes);
    for (const std::string& name : changed.targets) {
      auto it = target_index_.find(name);
      if (it == target_index_.end()) continue;  // not configured (any more)
      for (size_t i : it->second) {
        ReadTarget(i);
        dirty.push_back(i);
      }
    }
  }
  diagnosis::FleetContext ctx = fleet_->Context();
  if (full || !ctx.SameFacts(last_context_)) {
    dirty.resize(config.targets.size());
    for (size_t i = 0; i < dirty.size(); ++i) dirty[i] = i;
    provisional_.clear();
  } else {
    dirty.insert(dirty.end(), provisional_.begin(), provisional_.end());
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
  }
  diagnosis::Hysteresis::SharedVerdicts verdicts;
  verdicts.reserve(dirty.size());
  for (size_t i : dirty) {
    verdicts.push_back(DiagnoseOne(i, ctx));
    if (verdicts.back()->provisional) {
      provisional_.insert(i);
    } else {
      provisional_.erase(i);
    }
  }
  last_pass_ = {full, dirty.size()};
  std::vector<diagnosis::Transition> transitions =
      full ? hysteresis_->Apply(std::move(verdicts), now)
           : hysteresis_->ApplySome(std::move(verdicts), now);

  for (const diagnosis::Transition& t : transitions) {
    const std::string& summary = t.verdict->summary;
    // By the open incident, not by `from`: a failure that went through
    // `unknown` (no data, e.g. every probe away) and is seen again continues
    // its incident; ok after `unknown` closes it.
    auto open = open_incidents_.find(t.target);
    if (IsFailure(t.to)) {
      if (open == open_incidents_.end()) {
        store_->OpenIncident(t.target, t.to, now, summary);
        metrics_->CountIncident(t.to);
        open_incidents_[t.target] = t.to;
      } else if (open->second != t.to) {
        store_->ChangeIncident(t.target, t.to, now, summary);
        open->second = t.to;
      }
    } else if (t.to == v1::CAUSE_OK && open != open_incidents_.end()) {
      store_->CloseIncident(t.target, now, summary);
      open_incidents_.erase(open);
    }
    Logf(IsFailure(t.to) ? LogLevel::kWarning : LogLevel::kInfo, "target %s: %s -> %s: %s",
         t.target.c_str(), std::string(CauseWord(t.from)).c_str(),
         std::string(CauseWord(t.to)).c_str(), summary.c_str());
  }

  auto published = std::make_shared<Verdicts>();
  published->evaluated_ms = now;
  published->config = snap.config;
  // The stable verdicts in config order (shared, not copied), with the
  // freshest evidence when the cause is unchanged. Metrics render from them
  // at scrape time (World::Facts(), collector/metrics/state_collectable.h).
  published->verdicts.reserve(config.targets.size());
  for (const TargetConfig& t : config.targets) {
    auto it = hysteresis_->stable().find(t.name);
    if (it == hysteresis_->stable().end()) continue;
    published->verdicts.push_back({it->second.verdict, &t, it->second.since_ms});
  }
  for (const diagnosis::ProbeHealth& p : ctx.health) {
    auto [pit, inserted] = probe_health_published_.try_emplace(p.probe, p.healthy);
    if (!inserted && pit->second != p.healthy) {
      Logf(p.healthy ? LogLevel::kInfo : LogLevel::kWarning, "probe %s %s%s", p.probe.c_str(),
           p.healthy ? "is healthy again" : "is unhealthy: ", p.reason.c_str());
      pit->second = p.healthy;
    }
  }
  published->blocked_networks = ctx.blocked_networks;
  published->probes = ctx.health;
  published->probe_state = std::move(probes);
  published->context = std::make_shared<const diagnosis::FleetContext>(ctx);
  last_context_ = std::move(ctx);

  published->open_incidents = open_incidents_;
  world_->Publish(std::move(published));
}

}  // namespace parallax::collector
