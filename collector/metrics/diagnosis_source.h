// DiagnosisSource: the small read-only view /metrics takes of the published
// diagnosis at scrape time (implemented by the World, collector/server/
// world.h, over the stable verdicts the evaluator published). Facts() must
// be cheap and thread-safe: it is called from the HTTP server's threads,
// once per scrape.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "parallax/v1/outcome.pb.h"

namespace parallax::collector {

struct DiagnosisFacts {
  struct ProbeFacts {
    std::string probe;
    bool healthy = true;
    bool ssh_egress_blocked = false;
    bool cannot_run_checks = false;
  };
  // The stable cause of every configured target that has one.
  std::vector<std::pair<std::string, v1::Cause>> target_causes;
  std::vector<ProbeFacts> probes;
  std::vector<std::string> blocked_networks;  // isp_block now
};

class DiagnosisSource {
 public:
  virtual ~DiagnosisSource() = default;
  virtual DiagnosisFacts Facts() const = 0;
};

}  // namespace parallax::collector
