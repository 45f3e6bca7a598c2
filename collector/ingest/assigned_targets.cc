#include "collector/ingest/assigned_targets.h"

namespace parallax::collector {

bool AssignedTargets::Contains(const ConfigSnapshot& snapshot, const Labels& probe_labels,
                               const std::string& target) {
  if (!built_ || generation_ != snapshot.generation) {
    // Union over the stream's life: a result checked under an earlier
    // assignment (in flight or spooled when a reload removed its target) was
    // legitimately asked for and must not be acknowledged and dropped.
    if (snapshot.config) {
      for (const TargetConfig& t : snapshot.config->targets) {
        if (t.SelectsProbe(probe_labels)) names_.insert(t.name);
      }
    }
    generation_ = snapshot.generation;
    built_ = true;
  }
  return names_.count(target) != 0;
}

}  // namespace parallax::collector
