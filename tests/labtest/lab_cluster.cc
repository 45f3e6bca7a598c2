#include "tests/labtest/lab_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace parallax::testing {

namespace {
const char* kLabScript = PARALLAX_SOURCE_DIR "/tests/netlab/lab.sh";
constexpr int kGrpcPort = 7420;
}  // namespace

std::unique_ptr<LabCluster> LabCluster::Up(const std::string& yaml_extra, std::string* why,
                                           bool* can_run, const LabOptions& options) {
  *can_run = false;
  if (geteuid() != 0) {
    *why = "needs root for network namespaces (CI runs as root)";
    return nullptr;
  }
  if (RunCommand({"ip", "netns", "list"}).exit_code != 0) {
    *why = "`ip netns` is not available";
    return nullptr;
  }
  *can_run = true;
  for (const auto& [probe, offset] : options.probe_clock_offset) {
    if (WallClockSkewArgv(offset).empty()) {
      *why = "cannot shift " + probe + "'s clock by " + offset + ": " + kLibFaketime +
             " missing (deploy/install-deps.sh --test installs faketime) or not [+-]N[smh]";
      return nullptr;
    }
  }
  auto lab = std::unique_ptr<LabCluster>(new LabCluster());
  lab->lab_id_ = "fm" + std::to_string(getpid() % 100000);
  setenv("LAB_ID", lab->lab_id_.c_str(), 1);
  setenv("NETLAB_TARGETS", std::to_string(options.targets).c_str(), 1);
  CommandResult up = lab->Lab({"up"});
  if (up.exit_code != 0) {
    *why = "lab.sh up failed: " + up.err;
    lab->Lab({"down"});
    return nullptr;
  }
  CommandResult env_path = lab->Lab({"env"});
  lab->state_dir_ = env_path.out.substr(0, env_path.out.rfind('/'));
  CommandResult env = lab->Lab({"hosts"});
  std::istringstream in(env.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    LabHost h;
    if (!(fields >> h.name >> h.ns >> h.address >> h.role >> h.network)) continue;
    lab->hosts_.push_back(h);
    if (h.role == "probe") lab->probes_.push_back(h);
    if (h.role == "target") lab->targets_.push_back(h);
    if (h.role == "collector") lab->collector_host_ = h;
  }
  if (lab->probes_.empty() || lab->targets_.empty() || lab->collector_host_.ns.empty()) {
    *why = "lab.sh hosts listed no probes/targets/collector: " + env.out + env.err;
    return nullptr;
  }

  lab->dir_ = std::make_unique<TempDir>();
  std::string yaml =
      "listen: 0.0.0.0:" + std::to_string(kGrpcPort) +
      "\nmetrics_listen: 0.0.0.0:9420\nstorage:\n  path: " + lab->dir_->File("parallax.db") + "\n" +
      yaml_extra + "targets:\n";
  for (const LabHost& t : lab->targets_) {
    yaml += "  - name: " + t.name +
            "\n    host: " + (options.targets_by_name ? t.name + "." + kLabDnsZone : t.address) +
            "\n";
    if (auto extra = options.target_yaml.find(t.name); extra != options.target_yaml.end()) {
      std::istringstream lines(extra->second);
      for (std::string l; std::getline(lines, l);) yaml += "    " + l + "\n";
    }
  }
  yaml += options.extra_targets_yaml;
  WriteFile(lab->dir_->File("config.yaml"), yaml);
  lab->collector_ = std::make_unique<Process>(
      std::vector<std::string>{"ip", "netns", "exec", lab->collector_host_.ns, CollectorBinary(),
                               "--config", lab->dir_->File("config.yaml"), "--insecure",
                               "--insecure-allow-remote"},
      lab->dir_->File("collector.log"));
  LabCluster* self = lab.get();
  if (!WaitFor([self] { return self->Cli({"status"}).is_object(); }, std::chrono::seconds(15))) {
    *why = "collector did not start in the lab: " + lab->collector_->log() + lab->last_cli_error_;
    return nullptr;
  }
  for (const LabHost& p : lab->probes_) {
    // ip netns exec and env exec (no fork): the process is the probe's.
    std::vector<std::string> argv = {"ip", "netns", "exec", p.ns};
    if (auto skew = options.probe_clock_offset.find(p.name);
        skew != options.probe_clock_offset.end()) {
      std::vector<std::string> skewed = WallClockSkewArgv(skew->second);
      argv.insert(argv.end(), skewed.begin(), skewed.end());
    }
    argv.insert(argv.end(),
                {ProbeBinary(), "--collector",
                 lab->collector_host_.address + ":" + std::to_string(kGrpcPort), "--name", p.name,
                 "--label", "network=" + p.network, "--label", "site=" + p.name, "--insecure",
                 "--state-dir", lab->dir_->File("probe-" + p.name + "-state")});
    lab->probe_procs_[p.name] =
        std::make_unique<Process>(argv, lab->dir_->File("probe-" + p.name + ".log"));
  }
  return lab;
}

LabCluster::~LabCluster() {
  probe_procs_.clear();
  collector_.reset();
  if (!lab_id_.empty()) Lab({"down"});
}

CommandResult LabCluster::Lab(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bash", kLabScript};
  argv.insert(argv.end(), args.begin(), args.end());
  // `up` starts a few processes per host: minutes on a loaded 2-core machine.
  return RunCommand(argv, std::chrono::seconds(!args.empty() && args[0] == "up" ? 300 : 120));
}

std::string LabCluster::CliText(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip",
                                   "netns",
                                   "exec",
                                   collector_host_.ns,
                                   CliBinary(),
                                   "--collector",
                                   "127.0.0.1:" + std::to_string(kGrpcPort),
                                   "--insecure"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) last_cli_error_ = r.err;
  return r.out;
}

nlohmann::json LabCluster::Cli(const std::vector<std::string>& args) {
  std::vector<std::string> with_json = {"-o", "json"};
  with_json.insert(with_json.end(), args.begin(), args.end());
  std::string out = CliText(with_json);
  return out.empty() ? nlohmann::json() : nlohmann::json::parse(out, nullptr, false);
}

void LabCluster::SignalProbe(const std::string& name, int sig) {
  auto it = probe_procs_.find(name);
  if (it != probe_procs_.end()) it->second->Signal(sig);
}

std::string LabCluster::Metrics() {
  CommandResult r =
      RunCommand({"ip", "netns", "exec", collector_host_.ns, "python3", "-c",
                  "import urllib.request, sys; sys.stdout.write(urllib.request.urlopen("
                  "'http://127.0.0.1:9420/metrics', timeout=5).read().decode())"});
  return r.exit_code == 0 ? r.out : "";
}

std::string LabCluster::ProbeLog(const std::string& name) const {
  auto it = probe_procs_.find(name);
  return it == probe_procs_.end() ? "" : it->second->log();
}

}  // namespace parallax::testing
