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

std::shared_ptr<const Verdict> DiagnoseTarget(const TargetInput& target,
                                              const FleetContext& context,
                                              const std::shared_ptr<const Verdict>& previous) {
  Classification c = Classify(target, context);
  if (previous && SameWording(*previous, target, c)) return previous;
  return std::make_shared<const Verdict>(Word(target, context, c));
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
    const std::vector<Observation>& results = in.targets[ti].results;
    if (ti + 1 < in.targets.size()) {  // results live elsewhere: fetch the next target's
      for (const Observation& next : in.targets[ti + 1].results) Prefetch(next.result);
    }
    for (const Observation& obs : results) {
      const std::string& probe = obs.probe;
      int p;
      if (position < names.size() && *names[position] == probe) {  // the usual case
        p = static_cast<int>(position++);
        previous = &probe;
      } else if (previous != nullptr && probe <= *previous) {
        p = fleet.Probe(probe);  // out of order or repeated: look it up
      } else {
        int cmp = -1;
        while (position < names.size() && (cmp = names[position]->compare(probe)) < 0) ++position;
        p = cmp == 0 ? static_cast<int>(position++) : fleet.Probe(probe);
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
