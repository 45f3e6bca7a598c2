// LabCluster: the network lab (tests/netlab/lab.sh) with Parallax running in
// it for real — the collector in the datacentre, one probe per probe host,
// every probe connecting across the lab's routers — and helpers to inject
// faults and read what the collector reports through the CLI.
//
// Needs root and `ip netns`; Up() says why not otherwise. The destructor
// stops the processes and runs `lab.sh down`.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace parallax::testing {

struct LabHost {
  std::string name, ns, address, role, network;
};

// How the lab is built and its probes run.
struct LabOptions {
  int targets = 4;  // NETLAB_TARGETS
  // Probe name -> wall clock offset ("-10m", "+10m"): that probe runs with
  // its wall clock shifted (WallClockSkewArgv, tests/integration/harness.h:
  // ahead under Debian's libfaketime, behind under a system_clock preload),
  // monotonic time untouched, the process still the probe's own (same PID).
  std::map<std::string, std::string> probe_clock_offset;
  // Targets in the collector's config by their lab DNS name (tN.netlab.test,
  // served per site: tests/netlab/README.md) instead of their address.
  bool targets_by_name = false;
  // Target name -> extra YAML keys of that target, one "key: value" a line
  // (indented here), e.g. "hostkey_interval: 2s".
  std::map<std::string, std::string> target_yaml;
  // More entries of the `targets:` list, verbatim ("  - name: ...\n    host: ...\n").
  std::string extra_targets_yaml;
};

// The lab's DNS zone (tests/netlab/lib/common.sh, DNS_ZONE).
inline constexpr const char* kLabDnsZone = "netlab.test";

class LabCluster {
 public:
  // Brings the lab up (unique LAB_ID), starts the collector and the probes.
  // On nullptr, *why says why and *can_run whether this machine could run it
  // at all (false: not root, no `ip netns`: skip; true: a real failure).
  static std::unique_ptr<LabCluster> Up(const std::string& collector_yaml_extra, std::string* why,
                                        bool* can_run, const LabOptions& options = LabOptions());
  ~LabCluster();

  // Runs tests/netlab/lab.sh with `args`; returns its result.
  CommandResult Lab(const std::vector<std::string>& args);
  // `parallax <args> -o json` in the collector's namespace; null on failure.
  nlohmann::json Cli(const std::vector<std::string>& args);
  std::string CliText(const std::vector<std::string>& args);

  const std::vector<LabHost>& probes() const { return probes_; }
  const std::vector<LabHost>& targets() const { return targets_; }
  const std::string& collector_namespace() const { return collector_host_.ns; }
  std::string CollectorLog() const { return collector_->log(); }
  std::string ProbeLog(const std::string& name) const;
  // Sends `sig` to the probe process of host `name` (SIGSTOP, SIGCONT, ...).
  void SignalProbe(const std::string& name, int sig);
  // The collector's /metrics text (fetched inside its namespace); empty on failure.
  std::string Metrics();
  const std::string& last_cli_error() const { return last_cli_error_; }
  // The lab's state directory (lab.sh's NETLAB_STATE: hosts/<host>/ holds keys and logs).
  const std::string& state_dir() const { return state_dir_; }

 private:
  LabCluster() = default;
  std::string lab_id_;
  std::unique_ptr<TempDir> dir_;
  std::vector<LabHost> hosts_, probes_, targets_;
  LabHost collector_host_;
  std::unique_ptr<Process> collector_;
  std::map<std::string, std::unique_ptr<Process>> probe_procs_;
  std::string last_cli_error_;
  std::string state_dir_;
};

}  // namespace parallax::testing
