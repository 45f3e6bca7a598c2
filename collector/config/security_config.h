// The security parts of the collector config (docs/OPERATIONS.md, "Security"):
//   probes:            # optional: labels pinned per probe (by certificate identity)
//     fra1: {labels: {network: isp-a, site: fra}}
//   revoked:           # certificates refused, by identity or by serial
//     - ams1
//     - serial:4F1A0C
// Parsed by the config loader; errors name the field, the value and the line.
// Thread-compatible.
#pragma once

#include <yaml-cpp/yaml.h>

#include "collector/config/config.h"
#include "collector/config/yaml_fields.h"

namespace parallax::collector {

Status ParseProbesSection(const FieldReader& f, const YAML::Node& node,
                          std::map<std::string, ProbePolicyConfig>* out);
Status ParseRevokedSection(const FieldReader& f, const YAML::Node& node, RevokedConfig* out);
Status ParseMetricsSection(const FieldReader& f, const YAML::Node& node, MetricsConfig* out);

}  // namespace parallax::collector
