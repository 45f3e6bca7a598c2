// PolicyReports: what probes report of their own target policy (probe/policy)
// in heartbeats: the targets of their assignment they refuse to check. Each
// change is logged (the first refusals named) and exported as
//   parallax_probe_policy_refused_targets{probe="..."}  (gauge)
// so an operator sees at once that a probe declines part of the config, and
// kept (count and the first 100 with reasons) for `parallax probes`.
// Thread-safe (short internal lock).
#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

class PolicyReports {
 public:
  explicit PolicyReports(prometheus::Registry& registry);
  void OnHeartbeat(const std::string& probe, const v1::Heartbeat& hb);
  // Drops the probe's series (it expired after probe_ttl).
  void Forget(const std::string& probe);

  // The last report of each probe that ever sent one (refused may be 0).
  struct Refusals {
    uint32_t refused = 0;
    std::vector<v1::PolicyRefusal> first;  // at most 100, as the probe sent them
  };
  std::map<std::string, Refusals> Snapshot() const;

 private:
  struct Last {
    uint64_t generation = 0;
    uint32_t refused = 0;
    prometheus::Gauge* gauge = nullptr;
    std::vector<v1::PolicyRefusal> first;
  };
  mutable std::mutex mu_;
  prometheus::Family<prometheus::Gauge>& family_;
  std::map<std::string, Last> last_;
};

}  // namespace parallax::collector
