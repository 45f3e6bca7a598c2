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

FleetContext ContextOf(const Input& in) {
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
  // The probes were interned first, in name order: a result's probe index is
  // its position in `names`, found by walking both side by side.
  std::vector<const std::string*> names;
  names.reserve(in.probes.size());
  for (const auto& [name, p] : in.probes) names.push_back(&name);
  for (size_t ti = 0; ti < in.targets.size(); ++ti) {
    size_t position = 0;
    const std::string* previous = nullptr;
    for (const Observation& obs : in.targets[ti].results) {
      const std::string& probe = obs.probe;
      int p;
      if (previous != nullptr && probe < *previous) {
        p = fleet.Probe(probe);  // out of order: look it up
      } else {
        int cmp = -1;
        while (position < names.size() && (cmp = names[position]->compare(probe)) < 0) ++position;
        p = cmp == 0 ? static_cast<int>(position) : fleet.Probe(probe);
        previous = &probe;
      }
      fleet.Update(p, target_index[ti], obs.result, obs.received_ms);
    }
  }
  return fleet.Context();
}

Output Diagnose(const Input& in) {
  FleetContext ctx = ContextOf(in);
  Output out;
  out.verdicts.reserve(in.targets.size());
  for (const TargetInput& t : in.targets) out.verdicts.push_back(DiagnoseTarget(t, ctx));
  out.probes = std::move(ctx.health);
  out.blocked_networks = std::move(ctx.blocked_networks);
  return out;
}

}  // namespace parallax::collector::diagnosis
