// Reads the PromQL out of a Grafana dashboard JSON (dashboard/parallax.json)
// so a test can run every query against a real Prometheus: the panels'
// target expressions (rows' nested panels included) and the query
// variables' label_values(selector, label) calls, with Grafana's variables
// replaced the way Grafana would for "All" and a short time range.
//
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace parallax::testing {

struct PanelQuery {
  std::string where;  // "panel \"Title\" query A", for messages
  std::string expr;   // as written in the dashboard
};
std::vector<PanelQuery> PanelQueries(const nlohmann::json& dashboard);

struct VariableQuery {
  std::string name;      // the variable, e.g. "target"
  std::string selector;  // label_values' first argument, e.g. "parallax_target_cause"
  std::string label;     // its second, e.g. "target"
};
// Query variables; `bad` collects those whose query is not label_values(selector, label).
std::vector<VariableQuery> VariableQueries(const nlohmann::json& dashboard,
                                           std::vector<std::string>* bad);

// $var, ${var} and ${var:fmt} of a multi-value variable -> ".*" (its allValue);
// $__rate_interval -> 1m, $__interval -> 15s, $__range -> 5m.
std::string SubstituteGrafanaVariables(const std::string& expr);

}  // namespace parallax::testing
