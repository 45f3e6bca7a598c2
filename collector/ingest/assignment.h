// Builds the Assignment a probe gets: the configured targets whose probe
// selector matches the probe's labels, with defaults resolved. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "collector/config/config.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// The config in force and its generation (bumped by every successful reload).
struct ConfigSnapshot {
  std::shared_ptr<const Config> config;
  uint64_t generation = 0;
};

v1::Assignment BuildAssignment(const ConfigSnapshot& snapshot,
                               const std::map<std::string, std::string>& probe_labels);

}  // namespace parallax::collector
