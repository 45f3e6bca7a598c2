// AssignedTargets: whether a target was assigned to a probe stream (selected
// for the stream's labels by the config in force now or by any config in
// force since the stream started), so results for anything else are rejected
// and counted (parallax_ingest_rejected_total{reason="unassigned"}). The union
// keeps results a probe checked under an earlier assignment — in flight or
// spooled when a reload removed their target — which were asked for and are
// acknowledged: dropping them would lose data. A probe's labels are fixed by
// its Hello, so the set grows only when the config generation changes. Thread-compatible: one per stream, used by its reactions (which
// gRPC runs one at a time).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>

#include "collector/ingest/assignment.h"

namespace parallax::collector {

class AssignedTargets {
 public:
  bool Contains(const ConfigSnapshot& snapshot, const Labels& probe_labels,
                const std::string& target);

 private:
  bool built_ = false;
  uint64_t generation_ = 0;
  std::unordered_set<std::string> names_;
};

}  // namespace parallax::collector
