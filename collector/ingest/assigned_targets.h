// AssignedTargets: whether a target is in a probe stream's current
// assignment (the targets the config in force selects for the stream's
// labels), so results for anything else are rejected and counted
// (parallax_ingest_rejected_total{reason="unassigned"}). A probe's labels are
// fixed by its Hello, so the set is rebuilt only when the config generation
// changes. Thread-compatible: one per stream, used by its reactions (which
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
