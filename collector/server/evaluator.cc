#include "collector/server/evaluator.h"

#include <algorithm>

#include "common/log.h"
#include "common/words.h"

namespace parallax::collector {
namespace {

bool IsFailure(v1::Cause c) {
  return c != v1::CAUSE_OK && c != v1::CAUSE_UNKNOWN && c != v1::CAUSE_UNSPECIFIED;
}

// `results`: the target's newest result per probe (may be null); each
// evidence row gets its probe's pre-banner lines and ICMP/path evidence.
void ToProto(const diagnosis::Verdict& v, const std::string& host, uint32_t port, int64_t since_ms,
             int64_t now_ms, const std::map<std::string, ProbeState>& probes,
             const std::map<std::string, v1::CheckResult>* results, v1::Verdict* out) {
  out->set_target(v.target);
  out->set_host(host);
  out->set_port(port);
  out->set_cause(v.cause);
  out->set_confidence(v.confidence);
  out->set_summary(v.summary);
  out->set_since_unix_ms(since_ms);
  out->set_evaluated_unix_ms(now_ms);
  for (const diagnosis::Evidence& e : v.evidence) {
    v1::EvidenceItem* item = out->add_evidence();
    item->set_probe(e.probe);
    auto p = probes.find(e.probe);
    if (p != probes.end())
      item->mutable_labels()->insert(p->second.labels.begin(), p->second.labels.end());
    item->set_network(e.network);
    item->set_outcome(e.outcome);
    item->set_connect_ms(e.connect_ms);
    item->set_age_s(e.age_s);
    item->set_detail(e.detail);
    item->set_role(std::string(e.role_word()));
    item->set_role_code(e.role);
    item->set_alive_evidence(e.alive_evidence);
    if (p != probes.end() && p->second.clock_measured) {
      item->set_clock_measured(true);
      item->set_clock_offset_s(p->second.clock_offset_ms / 1000.0);
    }
    auto r = results != nullptr ? results->find(e.probe)
                                : std::map<std::string, v1::CheckResult>::const_iterator();
    if (results != nullptr && r != results->end()) {
      const v1::CheckResult& res = r->second;
      item->mutable_pre_banner()->CopyFrom(res.pre_banner());
      if (res.has_liveness()) {
        const v1::Liveness& l = res.liveness();
        if (l.has_ssh_icmp_error()) *item->mutable_ssh_icmp_error() = l.ssh_icmp_error();
        if (l.has_path()) *item->mutable_path() = l.path();
        item->set_ssh_answered_on_port(l.ssh_answered_on_port());
      }
    }
  }
  for (const std::string& d : v.disagreeing) out->add_disagreeing(d);
  for (const std::string& r : v.remediation) out->add_remediation(r);
  for (const std::string& n : v.blocked_networks) out->add_blocked_networks(n);
}

}  // namespace

Evaluator::Evaluator(Store* store, LiveState* state, Metrics* metrics,
                     std::function<ConfigSnapshot()> config, std::function<int64_t()> now_ms)
    : store_(store),
      state_(state),
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
  // timeout) of now, on the collector's clock.
  const int64_t active_since = now - (3 * max_interval + max_timeout);
  for (const TargetConfig& t : config.targets) {
    for (const auto& [probe, r] : state_->CopyTargetResults(t.name)) {
      if (ResultTimeMs(r) >= active_since) awaited_.insert(probe);
    }
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

void Evaluator::EvaluateOnce() {
  ConfigSnapshot snap = config_();
  const Config& config = *snap.config;
  int64_t now = now_ms_();
  if (!hysteresis_ || hysteresis_required_ != config.diagnosis.hysteresis) {
    hysteresis_required_ = config.diagnosis.hysteresis;
    auto next = std::make_unique<diagnosis::Hysteresis>(hysteresis_required_);
    if (hysteresis_) {
      for (const auto& [target, s] : hysteresis_->stable())
        next->Seed(target, s.verdict.cause, s.since_ms);
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
    if (first) BeginStartupGrace(config, now);
  }

  // Piecewise, target by target: never one long lock over the whole state.
  std::map<std::string, ProbeState> probes = state_->CopyProbes();
  if (InStartupGrace(now, probes)) {
    // Publish the seeded stable causes as they are; change nothing.
    auto published = std::make_shared<Published>();
    published->evaluated_ms = now;
    for (const TargetConfig& t : config.targets) {
      auto it = hysteresis_->stable().find(t.name);
      if (it == hysteresis_->stable().end()) continue;
      Published::Entry e{it->second.verdict, t.host, t.port, it->second.since_ms};
      if (e.verdict.summary.empty()) {
        e.verdict.summary =
            "Restored from the open incident at start-up; waiting for the probes to reconnect.";
      }
      published->verdicts.push_back(std::move(e));
    }
    published->probe_state = std::move(probes);
    std::lock_guard<std::mutex> lock(mu_);
    published_ = std::move(published);
    return;
  }
  diagnosis::Input in;
  in.now_ms = now;
  // The engine reads results through pointers: keep the copies alive here.
  std::vector<std::map<std::string, v1::CheckResult>> copies;
  copies.reserve(config.targets.size());
  for (const auto& [name, p] : probes) {
    in.probes[name] = {p.labels, p.connected, p.last_seen_ms};
  }
  for (const TargetConfig& t : config.targets) {
    diagnosis::TargetInput ti;
    ti.name = t.name;
    ti.host = t.host;
    ti.port = t.port;
    ti.interval_ms = t.interval.count();
    ti.timeout_ms = t.timeout.count();
    copies.push_back(state_->CopyTargetResults(t.name));
    for (const auto& [probe, r] : copies.back()) {
      // Judged on the collector's clock: the check's start corrected by the
      // probe's measured clock offset, never later than its arrival
      // (ResultTimeMs), so a probe's wrong clock neither hides its fresh
      // results nor keeps its old ones alive.
      ti.results.push_back({probe, &r, ResultTimeMs(r)});  // in probe order (a map)
    }
    in.targets.push_back(std::move(ti));
  }
  diagnosis::Output out = diagnosis::Diagnose(in);
  std::vector<diagnosis::Transition> transitions = hysteresis_->Apply(out.verdicts, now);

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

  auto published = std::make_shared<Published>();
  published->evaluated_ms = now;
  // The stable verdicts in config order, with the freshest evidence when the
  // cause is unchanged.
  for (const TargetConfig& t : config.targets) {
    auto it = hysteresis_->stable().find(t.name);
    if (it == hysteresis_->stable().end()) continue;
    published->verdicts.push_back({it->second.verdict, t.host, t.port, it->second.since_ms});
  }
  for (const diagnosis::ProbeHealth& p : out.probes) {
    auto [pit, inserted] = probe_health_published_.try_emplace(p.probe, p.healthy);
    if (!inserted && pit->second != p.healthy) {
      Logf(p.healthy ? LogLevel::kInfo : LogLevel::kWarning, "probe %s %s%s", p.probe.c_str(),
           p.healthy ? "is healthy again" : "is unhealthy: ", p.reason.c_str());
      pit->second = p.healthy;
    }
  }
  published->blocked_networks = std::move(out.blocked_networks);
  published->probes = std::move(out.probes);
  published->probe_state = std::move(probes);

  std::lock_guard<std::mutex> lock(mu_);
  published_ = std::move(published);
}

v1::ExplainResponse Evaluator::Explain(const std::string& target) const {
  std::shared_ptr<const Published> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = published_;
  }
  v1::ExplainResponse out;
  for (const Published::Entry& e : p->verdicts) {
    if (target.empty() || e.verdict.target == target) {
      const std::map<std::string, v1::CheckResult> results =
          state_->CopyTargetResults(e.verdict.target);
      ToProto(e.verdict, e.host, e.port, e.since_ms, p->evaluated_ms, p->probe_state, &results,
              out.add_verdicts());
    }
  }
  for (const diagnosis::ProbeHealth& ph : p->probes) {
    v1::ProbeHealth* h = out.add_probes();
    h->set_probe(ph.probe);
    h->mutable_labels()->insert(ph.labels.begin(), ph.labels.end());
    h->set_healthy(ph.healthy);
    h->set_reason(ph.reason);
  }
  return out;
}

DiagnosisFacts Evaluator::Facts() const {
  std::shared_ptr<const Published> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = published_;
  }
  DiagnosisFacts out;
  out.target_causes.reserve(p->verdicts.size());
  for (const Published::Entry& e : p->verdicts) {
    out.target_causes.emplace_back(e.verdict.target, e.verdict.cause);
  }
  for (const diagnosis::ProbeHealth& h : p->probes) {
    out.probes.push_back({h.probe, h.healthy, h.ssh_egress_blocked, h.cannot_run_checks});
  }
  out.blocked_networks = p->blocked_networks;
  return out;
}

std::map<std::string, std::pair<v1::Cause, std::string>> Evaluator::Causes() const {
  std::shared_ptr<const Published> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = published_;
  }
  std::map<std::string, std::pair<v1::Cause, std::string>> out;
  for (const Published::Entry& e : p->verdicts) {
    out[e.verdict.target] = {e.verdict.cause, e.verdict.summary};
  }
  return out;
}

}  // namespace parallax::collector
