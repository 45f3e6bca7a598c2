#include "collector/ingest/policy_reports.h"

#include <algorithm>

#include "common/log.h"

namespace parallax::collector {

PolicyReports::PolicyReports(prometheus::Registry& registry)
    : family_(prometheus::BuildGauge()
                  .Name("parallax_probe_policy_refused_targets")
                  .Help("Assigned targets the probe refuses to check under its own target policy")
                  .Register(registry)) {}

void PolicyReports::OnHeartbeat(const std::string& probe, const v1::Heartbeat& hb) {
  std::lock_guard<std::mutex> lock(mu_);
  Last& last = last_[probe];
  if (last.gauge == nullptr) last.gauge = &family_.Add({{"probe", probe}});
  last.gauge->Set(hb.policy_refused());
  last.first.assign(hb.policy_refusals().begin(),
                    hb.policy_refusals().begin() + std::min(hb.policy_refusals_size(), 100));
  if (last.generation == hb.policy_generation() && last.refused == hb.policy_refused()) return;
  last.generation = hb.policy_generation();
  last.refused = hb.policy_refused();
  if (hb.policy_refused() == 0) {
    Logf(LogLevel::kInfo, "probe %s accepts every target of assignment %llu", probe.c_str(),
         static_cast<unsigned long long>(hb.policy_generation()));
    return;
  }
  Logf(LogLevel::kWarning, "probe %s refuses %u targets of assignment %llu under its own policy",
       probe.c_str(), hb.policy_refused(), static_cast<unsigned long long>(hb.policy_generation()));
  for (int i = 0; i < hb.policy_refusals_size() && i < 20; ++i) {
    Logf(LogLevel::kWarning, "probe %s refuses %s", probe.c_str(),
         hb.policy_refusals(i).reason().substr(0, 512).c_str());
  }
}

std::map<std::string, PolicyReports::Refusals> PolicyReports::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Refusals> out;
  for (const auto& [probe, last] : last_) out[probe] = {last.refused, last.first};
  return out;
}

void PolicyReports::Forget(const std::string& probe) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_.find(probe);
  if (it == last_.end()) return;
  if (it->second.gauge != nullptr) family_.Remove(it->second.gauge);
  last_.erase(it);
}

}  // namespace parallax::collector
