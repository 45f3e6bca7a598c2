#include "tests/integration/cluster.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace parallax::testing {

void Cluster::Configure(const std::vector<TargetSpec>& targets, const std::string& interval,
                        const std::string& timeout, const std::string& top_extra) {
  if (grpc_port_ == 0) {
    grpc_port_ = FreePort();
    metrics_port_ = FreePort();
  }
  std::string yaml = "listen: 127.0.0.1:" + std::to_string(grpc_port_) +
                     "\nmetrics_listen: 127.0.0.1:" + std::to_string(metrics_port_) +
                     "\nstorage:\n  path: " + db_path() + "\n" + storage_extra_ +
                     "interval: " + interval + "\ntimeout: " + timeout + "\n" + top_extra +
                     "targets:\n";
  for (const TargetSpec& t : targets) {
    yaml += "  - name: " + t.name + "\n    host: " + t.host +
            "\n    port: " + std::to_string(t.port) + "\n" + t.extra;
  }
  WriteFile(config_path(), yaml);
}

Process* Cluster::StartCollector(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {CollectorBinary(), "--config", config_path()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  collector_.reset();
  collector_ = std::make_unique<Process>(
      argv, dir_.File("collector." + std::to_string(++collector_starts_) + ".log"));
  // Up: /metrics answers and the gRPC port accepts (the metrics server can
  // start first; a stream opened before gRPC listens fails at once).
  bool up = WaitFor(
      [this] {
        return (!Metrics().empty() && LoopbackPortOpen(grpc_port_)) || !collector_->running();
      },
      std::chrono::seconds(15));
  EXPECT_TRUE(up && collector_->running()) << "collector did not start:\n" << collector_->log();
  return collector_.get();
}

void Cluster::KillCollector(int sig) {
  collector_->Signal(sig);
  collector_->Wait(std::chrono::seconds(10));
}

Process* Cluster::StartProbe(const std::string& name,
                             const std::map<std::string, std::string>& labels,
                             const std::vector<std::string>& extra_args) {
  // Test targets live on loopback and some tests check faster than 1 s: the
  // probe's own target policy must allow both (probe/policy).
  std::vector<std::string> argv = {ProbeBinary(), "--collector", collector_address(), "--name",
                                   name, "--allow-loopback", "--min-interval", "100ms"};
  for (const auto& [k, v] : labels) {
    argv.push_back("--label");
    argv.push_back(k + "=" + v);
  }
  // Each probe its own spool directory (kept across restarts of that probe).
  if (std::find(extra_args.begin(), extra_args.end(), "--state-dir") == extra_args.end()) {
    argv.push_back("--state-dir");
    argv.push_back(dir_.File("probe-" + name + "-state"));
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  probes_[name] = std::make_unique<Process>(argv, dir_.File("probe-" + name + ".log"));
  return probes_[name].get();
}

nlohmann::json Cluster::CliJson(const std::vector<std::string>& args,
                                const std::vector<std::string>& tls_args) {
  std::vector<std::string> argv = {CliBinary(), "--collector", collector_address(), "-o", "json"};
  argv.insert(argv.end(), tls_args.begin(), tls_args.end());
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  // Exit 1 means "something shown is failing" (docs/CLI.md): the JSON is the
  // answer all the same. 2 is a usage or connection error.
  if (r.exit_code != 0 && r.exit_code != 1) {
    last_cli_error_ = "exit " + std::to_string(r.exit_code) + ": " + r.err;
    return nlohmann::json();
  }
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string Cluster::Outcome(const nlohmann::json& status, const std::string& target,
                             const std::string& probe) {
  if (!status.is_object() || !status.contains("targets")) return "";
  for (const auto& t : status["targets"]) {
    if (t.value("name", "") != target) continue;
    for (const auto& p : t["probes"]) {
      if (p.value("probe", "") == probe) return p.value("outcome", "");
    }
  }
  return "";
}

bool Cluster::WaitForOutcomes(
    const std::map<std::pair<std::string, std::string>, std::string>& want,
    std::chrono::milliseconds timeout, nlohmann::json* last) {
  nlohmann::json status;
  bool ok = WaitFor(
      [&] {
        status = CliJson({"status"});
        for (const auto& [key, outcome] : want) {
          if (Outcome(status, key.first, key.second) != outcome) return false;
        }
        return true;
      },
      timeout);
  if (last != nullptr) *last = status;
  return ok;
}

}  // namespace parallax::testing
