#include "probe/policy/policy_gate.h"

#include <algorithm>
#include <cstdint>

#include "common/duration.h"
#include "common/log.h"

namespace parallax::probe {

void AddTargetPolicyFlags(CLI::App& app, TargetPolicyFlags* f) {
  const char* group =
      "Target policy (what this probe agrees to check, whatever the collector says)";
  app.add_option("--allow-target", f->allow_target,
                 "Only check addresses inside this CIDR (repeatable; default: any address except "
                 "loopback, link-local, multicast and this host's own)")
      ->group(group);
  app.add_flag("--allow-loopback", f->allow_loopback,
               "Also allow loopback targets (127.0.0.0/8, ::1, localhost): tests and local demos")
      ->group(group);
  app.add_option("--allow-port", f->allow_port,
                 "Only check these ports, PORT or LO-HI (repeatable; default: any)")
      ->group(group);
  app.add_option("--min-interval", f->min_interval, "Refuse targets checked more often than this")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-targets", f->max_targets, "Refuse targets beyond this many")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000))
      ->group(group);
  app.add_option("--max-connects-per-second", f->max_connects_per_second,
                 "Refuse targets beyond this many new SSH connections per second in all")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e7))
      ->group(group);
}

Status MakeTargetPolicyOptions(const TargetPolicyFlags& f, TargetPolicyOptions* out) {
  TargetPolicyOptions o;
  for (const std::string& c : f.allow_target) {
    Cidr cidr;
    Status st = ParseCidr(c, &cidr);
    if (!st.ok()) return Status::InvalidArgument("--allow-target " + st.message());
    o.allow.push_back(cidr);
  }
  for (const std::string& p : f.allow_port) {
    PortRange r;
    Status st = ParsePortRange(p, &r);
    if (!st.ok()) return Status::InvalidArgument("--allow-port " + st.message());
    o.ports.push_back(r);
  }
  Status st = ParseDuration(f.min_interval, &o.min_interval);
  if (!st.ok()) {
    return Status::InvalidArgument("--min-interval \"" + f.min_interval + "\": " + st.message());
  }
  o.allow_loopback = f.allow_loopback;
  o.max_targets = f.max_targets;
  o.max_connects_per_second = f.max_connects_per_second;
  *out = std::move(o);
  return Status::Ok();
}

v1::Assignment PolicyGate::Apply(const v1::Assignment& in) {
  std::vector<v1::PolicyRefusal> refused;
  v1::Assignment out = policy_.Filter(in, &refused);
  constexpr size_t kLogged = 50;
  for (size_t i = 0; i < refused.size() && i < kLogged; ++i) {
    Logf(LogLevel::kWarning, "assignment %llu: refused by this probe's target policy: %s",
         static_cast<unsigned long long>(in.generation()), refused[i].reason().c_str());
  }
  if (refused.size() > kLogged) {
    Logf(LogLevel::kWarning, "assignment %llu: ... and %zu more targets refused",
         static_cast<unsigned long long>(in.generation()), refused.size() - kLogged);
  }
  if (!refused.empty()) {
    Logf(LogLevel::kWarning, "assignment %llu: checking %d of %d targets (%zu refused by policy)",
         static_cast<unsigned long long>(in.generation()), out.targets_size(), in.targets_size(),
         refused.size());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    refused_ = static_cast<uint32_t>(refused.size());
    if (refused.size() > static_cast<size_t>(kMaxReported)) refused.resize(kMaxReported);
    refusals_ = std::move(refused);
    generation_ = in.generation();
  }
  report_due_ = true;
  return out;
}

std::string PolicyGate::ResolvedAddressRefusal(const std::string& address) {
  // Judged under the lock (a few comparisons) instead of copying own_.
  std::lock_guard<std::mutex> lock(own_mu_);
  auto now = std::chrono::steady_clock::now();
  if (own_read_ == std::chrono::steady_clock::time_point{} ||
      now - own_read_ > std::chrono::seconds(10)) {
    own_ = policy_.options().own_addresses ? policy_.options().own_addresses() : OwnAddresses();
    own_read_ = now;
  }
  return policy_.AddressRefusal(address, own_);
}

std::string PolicyGate::AdHocRefusal(const v1::Target& target) const {
  v1::Assignment one;
  v1::Target* t = one.add_targets();
  *t = target;
  // Not a schedule: only the address and port rules apply.
  const int64_t min_ms = policy_.options().min_interval.count();
  const double per_second = policy_.options().max_connects_per_second;
  int64_t interval = std::max<int64_t>(
      {int64_t{t->interval_ms()}, min_ms, static_cast<int64_t>(1000.0 / per_second) + 1});
  t->set_interval_ms(static_cast<uint32_t>(std::min<int64_t>(interval, UINT32_MAX)));
  std::vector<v1::PolicyRefusal> refused;
  policy_.Filter(one, &refused);
  return refused.empty() ? "" : refused.front().reason();
}

void PolicyGate::FillHeartbeat(v1::Heartbeat* hb) const {
  std::lock_guard<std::mutex> lock(mu_);
  hb->set_policy_refused(refused_);
  hb->set_policy_generation(generation_);
  for (const v1::PolicyRefusal& r : refusals_) *hb->add_policy_refusals() = r;
}

}  // namespace parallax::probe
