// A collector and its probes as real processes on loopback, for integration
// tests: writes the collector's YAML config, starts the binaries, and asks
// the CLI for status. Plaintext (--insecure) unless TLS files are given.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace parallax::testing {

struct TargetSpec {
  std::string name;
  std::string host = "127.0.0.1";
  int port = 22;
  std::string extra;  // more YAML lines for this target, indented by 4
};

class Cluster {
 public:
  explicit Cluster(const TempDir& dir) : dir_(dir) {}

  // Writes config.yaml with fresh ports; `top_extra` adds top-level YAML.
  void Configure(const std::vector<TargetSpec>& targets, const std::string& interval = "1s",
                 const std::string& timeout = "700ms", const std::string& top_extra = "");
  // More lines under `storage:` (each indented by 2) for the next Configure.
  void set_storage_extra(std::string yaml) { storage_extra_ = std::move(yaml); }
  std::string config_path() const { return dir_.File("config.yaml"); }
  std::string db_path() const { return db_path_.empty() ? dir_.File("parallax.db") : db_path_; }
  // Another database file for the next Configure (e.g. on a small tmpfs).
  void set_db_path(std::string path) { db_path_ = std::move(path); }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string collector_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }

  // Starts (or restarts) the collector and waits until it serves queries.
  Process* StartCollector(const std::vector<std::string>& extra_args = {"--insecure"});
  Process* collector() { return collector_.get(); }
  void KillCollector(int sig);

  Process* StartProbe(const std::string& name, const std::map<std::string, std::string>& labels,
                      const std::vector<std::string>& extra_args = {"--insecure"});
  Process* probe(const std::string& name) { return probes_[name].get(); }

  // `parallax <args> --collector ... -o json`; empty json on failure.
  nlohmann::json CliJson(const std::vector<std::string>& args,
                         const std::vector<std::string>& tls_args = {"--insecure"});
  // The outcome word the CLI reports for target x probe ("" if none).
  std::string Outcome(const nlohmann::json& status, const std::string& target,
                      const std::string& probe);
  // Waits until every (target, probe) -> outcome in `want` holds.
  bool WaitForOutcomes(const std::map<std::pair<std::string, std::string>, std::string>& want,
                       std::chrono::milliseconds timeout, nlohmann::json* last = nullptr);
  std::string Metrics() { return HttpGet(metrics_port_, "/metrics"); }
  // stderr and exit code of the last failed CLI call.
  const std::string& last_cli_error() const { return last_cli_error_; }

 private:
  const TempDir& dir_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int collector_starts_ = 0;
  std::string last_cli_error_;
  std::string storage_extra_;
  std::string db_path_;
  std::unique_ptr<Process> collector_;
  std::map<std::string, std::unique_ptr<Process>> probes_;
};

}  // namespace parallax::testing
