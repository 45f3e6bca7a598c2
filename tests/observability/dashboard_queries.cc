#include "tests/observability/dashboard_queries.h"

#include <regex>

namespace parallax::testing {
namespace {

void CollectPanels(const nlohmann::json& panels, std::vector<PanelQuery>* out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    CollectPanels(p.value("panels", nlohmann::json::array()), out);
    if (!p.contains("targets")) continue;
    for (const auto& t : p["targets"]) {
      out->push_back({"panel \"" + p.value("title", "?") + "\" query " + t.value("refId", "?"),
                      t.value("expr", "")});
    }
  }
}

}  // namespace

std::vector<PanelQuery> PanelQueries(const nlohmann::json& dashboard) {
  std::vector<PanelQuery> out;
  CollectPanels(dashboard.value("panels", nlohmann::json::array()), &out);
  return out;
}

std::vector<VariableQuery> VariableQueries(const nlohmann::json& dashboard,
                                           std::vector<std::string>* bad) {
  std::vector<VariableQuery> out;
  static const std::regex kLabelValues(
      R"(^\s*label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$)");
  for (const auto& v : dashboard["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    std::string query =
        v["query"].is_object() ? v["query"].value("query", "") : v["query"].get<std::string>();
    std::smatch m;
    if (std::regex_match(query, m, kLabelValues)) {
      out.push_back({v.value("name", ""), m[1].str(), m[2].str()});
    } else {
      bad->push_back(v.value("name", "") + ": " + query);
    }
  }
  return out;
}

std::string SubstituteGrafanaVariables(const std::string& expr) {
  std::string s = expr;
  s = std::regex_replace(s, std::regex(R"(\$\{?__rate_interval\}?)"), "1m");
  s = std::regex_replace(s, std::regex(R"(\$\{?__interval\}?)"), "15s");
  s = std::regex_replace(s, std::regex(R"(\$\{?__range\}?)"), "5m");
  s = std::regex_replace(s, std::regex(R"(\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\})"), ".*");
  s = std::regex_replace(s, std::regex(R"(\$[A-Za-z_][A-Za-z0-9_]*)"), ".*");
  return s;
}

}  // namespace parallax::testing
