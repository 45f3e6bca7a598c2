#include "collector/diagnosis/engine.h"

#include "collector/diagnosis/classify.h"
#include "collector/diagnosis/fleet.h"
#include "collector/diagnosis/wording.h"
#include "common/words.h"

namespace parallax::collector::diagnosis {

std::string_view Evidence::role_word() const { return RoleWord(role); }

Verdict DiagnoseTarget(const TargetInput& target, const FleetContext& context) {
  return Word(target, context, Classify(target, context));
}

Output Diagnose(const Input& in) {
  // A one-shot Fleet at a fixed time: nothing expires later, so it keeps no
  // expiry queue.
  Fleet fleet(in.stale_intervals);
  fleet.track_expiry_ = false;
  fleet.Advance(in.now_ms);
  for (const auto& [name, p] : in.probes) fleet.SetProbe(fleet.Probe(name), p);
  std::vector<int> target_index;
  target_index.reserve(in.targets.size());
  for (const TargetInput& t : in.targets) {
    target_index.push_back(fleet.Target(t.name));
    fleet.SetTarget(target_index.back(), t.interval_ms, t.timeout_ms);
  }
  for (size_t ti = 0; ti < in.targets.size(); ++ti) {
    // The probes were interned first, in name order: a result's probe index
    // is its position in in.probes, found by walking both maps side by side.
    auto pit = in.probes.begin();
    int position = 0;
    for (const auto& [probe, obs] : in.targets[ti].results) {
      while (pit != in.probes.end() && pit->first < probe) {
        ++pit;
        ++position;
      }
      int p = pit != in.probes.end() && pit->first == probe ? position : fleet.Probe(probe);
      fleet.Update(p, target_index[ti], obs.result, obs.received_ms);
    }
  }
  FleetContext ctx = fleet.Context();
  Output out;
  out.verdicts.reserve(in.targets.size());
  for (const TargetInput& t : in.targets) out.verdicts.push_back(DiagnoseTarget(t, ctx));
  out.probes = std::move(ctx.health);
  out.blocked_networks = std::move(ctx.blocked_networks);
  return out;
}

}  // namespace parallax::collector::diagnosis
