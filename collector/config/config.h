// The collector's typed configuration, loaded from YAML (docs/CONFIG.md).
// Loading validates everything; an error names the field, the value and the
// line ("targets[2].port: 70000 is not a port (1..65535) at line 14").
// Config is a plain value: copy it; thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax::collector {

using Labels = std::map<std::string, std::string>;

struct TargetConfig {
  std::string name;  // unique; [A-Za-z0-9._:-], 1..128 chars
  std::string host;  // a DNS name or an IPv4/IPv6 address
  uint16_t port = 22;
  std::chrono::milliseconds interval{0};  // defaulted from Config::interval
  std::chrono::milliseconds timeout{0};   // defaulted from Config::timeout; must be < interval
  Labels labels;
  Labels probes;                         // label selector: empty = every probe checks it
  std::vector<uint16_t> liveness_ports;  // defaulted from Config::liveness_ports
  std::vector<uint16_t> alt_ports;       // defaulted from Config::alt_ports
  uint16_t closed_port = 0;              // defaulted from Config::closed_port; 0 disables

  // True if a probe with `probe_labels` should check this target: every
  // key=value of `probes` is present in probe_labels.
  bool SelectsProbe(const Labels& probe_labels) const;
};

struct TlsConfig {
  std::string cert;       // PEM server certificate chain
  std::string key;        // PEM private key
  std::string client_ca;  // if set, clients must present a certificate signed by it (mTLS)
  bool enabled() const { return !cert.empty(); }
};

struct StorageConfig {
  std::string path = "parallax.db";
  std::chrono::milliseconds retention = std::chrono::hours(24 * 14);
};

struct DiagnosisConfig {
  int hysteresis = 2;                           // evaluations a new cause must persist
  std::chrono::milliseconds evaluate_every{0};  // 0: the smallest target interval
};

struct Config {
  std::string listen = "127.0.0.1:7420";
  std::string metrics_listen = "127.0.0.1:9420";
  // The largest gRPC message the collector accepts (a probe's batch of
  // results); probes size their batches well below it (--max-batch-bytes).
  int64_t max_receive_message_bytes = 4 << 20;
  TlsConfig tls;
  StorageConfig storage;
  DiagnosisConfig diagnosis;
  std::chrono::milliseconds interval = std::chrono::seconds(10);
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  // Tried when SSH times out or is unreachable (see docs/CONFIG.md).
  std::vector<uint16_t> liveness_ports = {443, 80};
  // Tried for an SSH identification when the SSH port refuses.
  std::vector<uint16_t> alt_ports = {2222};
  // Connected to when SSH times out or is unreachable: a reset from it proves
  // the host itself is up. 0 disables.
  uint16_t closed_port = 65535;
  std::vector<TargetConfig> targets;

  // nullptr if no target has that name.
  const TargetConfig* FindTarget(std::string_view name) const;
};

// Parses YAML text. `source` names it in errors (a file path). On error `out`
// is left unchanged.
Status ParseConfig(std::string_view yaml, const std::string& source, Config* out);
// Reads and parses a file.
Status LoadConfigFile(const std::string& path, Config* out);

}  // namespace parallax::collector
