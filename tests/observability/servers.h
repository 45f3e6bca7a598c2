// Real Prometheus and Alertmanager processes for the observability tests,
// started from the shipped configs (deploy/prometheus, deploy/alertmanager)
// with test-only changes: loopback listen addresses on free ports, a temp
// dir for their storage, 1 s scrape/evaluation intervals, short `for:` and
// notification delays, and every Alertmanager receiver pointed at a loopback
// webhook recorder. Nothing leaves 127.0.0.1. Each is killed (with its
// process group) when destroyed.
//
// Not thread-safe; one test owns each object.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"

namespace parallax::testing {

// A file of the source tree (PARALLAX_SOURCE_DIR), e.g. "dashboard/parallax.json".
std::string SourcePath(const std::string& relative);

class Alertmanager {
 public:
  // Writes a test copy of deploy/alertmanager/alertmanager.yml into `dir`
  // (routes and inhibit rules unchanged; webhooks -> 127.0.0.1:webhook_port
  // /<receiver name>; group_wait/group_interval 1s) and starts it. Returns
  // nullptr and why in *why when it cannot start.
  static std::unique_ptr<Alertmanager> Start(const TempDir& dir, int webhook_port,
                                             std::string* why);
  int port() const { return port_; }
  // GET /api/v2/alerts (active, inhibited and silenced; resolved ones are gone).
  nlohmann::json Alerts() const;
  // POST /api/v2/alerts; true on 200.
  bool PostAlerts(const nlohmann::json& alerts) const;
  std::string log() const { return process_->log(); }

 private:
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

class Prometheus {
 public:
  // Writes test copies of deploy/prometheus/prometheus.yml (scraping the
  // collector at 127.0.0.1:metrics_port, alerting to 127.0.0.1:alertmanager_port,
  // every 1s) and of the rules with every `for:` set to `rule_for`, then starts it.
  static std::unique_ptr<Prometheus> Start(const TempDir& dir, int metrics_port,
                                           int alertmanager_port, const std::string& rule_for,
                                           std::string* why);
  int port() const { return port_; }
  // GET /api/v1/query?query=<promql> (instant, now); the parsed reply or null.
  nlohmann::json Query(const std::string& promql) const;
  // GET /api/v1/label/<label>/values?match[]=<selector>; the parsed reply or null.
  nlohmann::json LabelValues(const std::string& label, const std::string& selector) const;
  std::string log() const { return process_->log(); }

 private:
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace parallax::testing
