// The config loader proper: walks a parsed YAML tree, applies defaults and
// validates every field (rules in docs/CONFIG.md), with errors naming the
// field path, the value and the line. Thread-compatible.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "collector/config/config.h"
#include "common/status.h"

namespace parallax::collector {

// Fills `out` (a default-constructed Config) from `root`; `source` prefixes
// errors. May leave `out` partly filled on error: parse into a temporary.
Status ParseConfigTree(const YAML::Node& root, const std::string& source, Config* out);

}  // namespace parallax::collector
