#include "tests/observability/servers.h"

#include <yaml-cpp/yaml.h>

#include <regex>

#include "tests/observability/http_util.h"

namespace parallax::testing {
namespace {

std::string Emit(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return std::string(out.c_str()) + "\n";
}

bool WaitReady(int port, Process* process, std::string* why) {
  bool ready = WaitFor(
      [&] { return HttpCall(port, "GET", "/-/ready").status == 200 || !process->running(); },
      std::chrono::seconds(30));
  if (ready && process->running()) return true;
  *why = "not ready on 127.0.0.1:" + std::to_string(port) + ":\n" + process->log();
  return false;
}

}  // namespace

std::string SourcePath(const std::string& relative) {
  return std::string(PARALLAX_SOURCE_DIR) + "/" + relative;
}

std::unique_ptr<Alertmanager> Alertmanager::Start(const TempDir& dir, int webhook_port,
                                                  std::string* why) {
  if (std::string(PARALLAX_ALERTMANAGER_BIN).empty()) {
    *why = "prometheus-alertmanager not found (deploy/install-deps.sh --test installs it)";
    return nullptr;
  }
  YAML::Node config = YAML::LoadFile(SourcePath("deploy/alertmanager/alertmanager.yml"));
  config["route"]["group_wait"] = "1s";
  config["route"]["group_interval"] = "1s";
  for (YAML::Node receiver : config["receivers"]) {
    std::string name = receiver["name"].as<std::string>();
    for (const char* kind : {"email_configs", "slack_configs", "pagerduty_configs",
                             "opsgenie_configs", "webhook_configs"}) {
      receiver.remove(kind);
    }
    if (name == "parallax-dashboard-only") continue;  // a receiver that notifies nobody
    YAML::Node hook;
    hook["url"] = "http://127.0.0.1:" + std::to_string(webhook_port) + "/" + name;
    hook["send_resolved"] = true;
    receiver["webhook_configs"].push_back(hook);
  }
  std::string path = dir.File("alertmanager.yml");
  WriteFile(path, Emit(config));

  auto am = std::unique_ptr<Alertmanager>(new Alertmanager());
  am->port_ = FreePort();
  std::string storage = dir.File("alertmanager-data");
  am->process_ = std::make_unique<Process>(
      std::vector<std::string>{PARALLAX_ALERTMANAGER_BIN, "--config.file=" + path,
                               "--storage.path=" + storage,
                               "--web.listen-address=127.0.0.1:" + std::to_string(am->port_),
                               "--cluster.listen-address=", "--log.level=debug"},
      dir.File("alertmanager.log"));
  if (!WaitReady(am->port_, am->process_.get(), why)) return nullptr;
  return am;
}

nlohmann::json Alertmanager::Alerts() const {
  HttpReply r = HttpCall(port_, "GET", "/api/v2/alerts");
  return nlohmann::json::parse(r.body, nullptr, false);
}

bool Alertmanager::PostAlerts(const nlohmann::json& alerts) const {
  return HttpCall(port_, "POST", "/api/v2/alerts", alerts.dump()).status == 200;
}

std::unique_ptr<Prometheus> Prometheus::Start(const TempDir& dir, int metrics_port,
                                              int alertmanager_port, const std::string& rule_for,
                                              std::string* why) {
  if (std::string(PARALLAX_PROMETHEUS_BIN).empty()) {
    *why = "prometheus not found (deploy/install-deps.sh --test installs it)";
    return nullptr;
  }
  std::string rules = ReadFile(SourcePath("deploy/prometheus/rules/parallax.rules.yml"));
  rules = std::regex_replace(rules, std::regex(R"(for: \d+[smh])"), "for: " + rule_for);
  std::string rules_path = dir.File("parallax.rules.yml");
  WriteFile(rules_path, rules);

  YAML::Node config = YAML::LoadFile(SourcePath("deploy/prometheus/prometheus.yml"));
  config["global"]["scrape_interval"] = "1s";
  config["global"]["evaluation_interval"] = "1s";
  YAML::Node rule_files(YAML::NodeType::Sequence);
  rule_files.push_back(rules_path);
  config["rule_files"] = rule_files;
  YAML::Node am_targets(YAML::NodeType::Sequence);
  am_targets.push_back("127.0.0.1:" + std::to_string(alertmanager_port));
  config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = am_targets;
  bool found = false;
  for (YAML::Node job : config["scrape_configs"]) {
    if (job["job_name"].as<std::string>() != "parallax-collector") continue;
    YAML::Node targets(YAML::NodeType::Sequence);
    targets.push_back("127.0.0.1:" + std::to_string(metrics_port));
    job["static_configs"][0]["targets"] = targets;
    found = true;
  }
  if (!found) {
    *why = "deploy/prometheus/prometheus.yml has no job parallax-collector";
    return nullptr;
  }
  std::string path = dir.File("prometheus.yml");
  WriteFile(path, Emit(config));

  auto prom = std::unique_ptr<Prometheus>(new Prometheus());
  prom->port_ = FreePort();
  prom->process_ = std::make_unique<Process>(
      std::vector<std::string>{PARALLAX_PROMETHEUS_BIN, "--config.file=" + path,
                               "--storage.tsdb.path=" + dir.File("prometheus-data"),
                               "--web.listen-address=127.0.0.1:" + std::to_string(prom->port_),
                               "--rules.alert.resend-delay=1s", "--log.level=info"},
      dir.File("prometheus.log"));
  if (!WaitReady(prom->port_, prom->process_.get(), why)) return nullptr;
  return prom;
}

nlohmann::json Prometheus::Query(const std::string& promql) const {
  HttpReply r = HttpCall(port_, "GET", "/api/v1/query?query=" + UrlEncode(promql));
  return nlohmann::json::parse(r.body, nullptr, false);
}

nlohmann::json Prometheus::LabelValues(const std::string& label,
                                       const std::string& selector) const {
  HttpReply r =
      HttpCall(port_, "GET", "/api/v1/label/" + label + "/values?match[]=" + UrlEncode(selector));
  return nlohmann::json::parse(r.body, nullptr, false);
}

}  // namespace parallax::testing
