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
  Labels probes;                             // label selector: empty = every probe checks it
  std::vector<uint16_t> liveness_ports;      // defaulted from Config::liveness_ports
  std::vector<uint16_t> alt_ports;           // defaulted from Config::alt_ports
  uint16_t closed_port = 0;                  // defaulted from Config::closed_port; 0 disables
  uint32_t path_max_hops = 0;                // defaulted from Config::path_max_hops; 0 disables
  std::chrono::milliseconds path_budget{0};  // defaulted from Config::path_budget
  // Which addresses of a DNS name each probe checks: "first" (the first of
  // each family), "all", "ipv4" or "ipv6" (v1::AddressSelection).
  std::string addresses = "first";
  // SSH key exchange for the host key at most this often per probe;
  // defaulted from Config::hostkey_interval; 0 disables.
  std::chrono::milliseconds hostkey_interval{0};
  // Pinned host key fingerprints ("SHA256:..."): from `host_keys:` or the
  // known_hosts file; empty: pinned on first use.
  std::vector<std::string> host_keys;

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
  std::string driver = "sqlite";     // or "postgres"
  std::string path = "parallax.db";  // sqlite
  std::string dsn;  // postgres: libpq connection string (never logged with its password)
  std::chrono::milliseconds partition_width =
      std::chrono::hours(24);  // postgres results partitions
  std::chrono::milliseconds retention = std::chrono::hours(24 * 14);
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);  // SQLite's own busy wait
  std::chrono::milliseconds busy_retry = std::chrono::seconds(10);   // then retried this long
  std::chrono::milliseconds incident_retention = std::chrono::hours(24 * 365);  // closed incidents
  bool compaction = true;  // runs + changes instead of every result (store.h)
  std::chrono::milliseconds change_retention = std::chrono::hours(24 * 90);  // changes (compaction)
};

struct DiagnosisConfig {
  int hysteresis = 2;                           // evaluations a new cause must persist
  std::chrono::milliseconds evaluate_every{0};  // 0: the smallest target interval
};

// Per-probe settings by certificate identity (the probe's name): labels that
// a Hello must carry with exactly these values (a Hello that disagrees is
// refused), so a compromised probe cannot move itself into another network.
struct ProbePolicyConfig {
  Labels pinned_labels;
};

// Certificates the collector refuses (checked on every call and on reload,
// which also closes live streams): by identity (probe name or CN) or by
// serial number (upper-case hex, no leading zeros, e.g. "4F1A0C").
struct RevokedConfig {
  std::vector<std::string> identities;
  std::vector<std::string> serials;
  bool empty() const { return identities.empty() && serials.empty(); }
};

// The one spelling of a certificate serial that RevokedConfig and PeerIdentity
// compare: upper-case hex without leading zeros ("0f1a" -> "F1A", "00" -> "0").
// Returns "" when `hex` is empty, longer than 40 digits or not hex.
std::string CanonicalSerial(std::string_view hex);

// /metrics endpoint hardening (metrics: section).
struct MetricsConfig {
  int threads = 16;                 // web server worker threads
  int request_timeout_ms = 5000;    // an idle or slow client is dropped after this
  std::string basic_auth_user;      // optional basic auth (both or neither)
  std::string basic_auth_password;  // plaintext in the config file: keep it 0600
};

// Enrollment (enroll: section, docs/CONFIG.md): with a CA key the collector
// signs probe CSRs that come with a token from `parallax-collector token
// create`; without one enrollment is off.
struct EnrollConfig {
  std::string ca_cert;      // PEM CA certificate (default: tls.client_ca)
  std::string ca_key;       // PEM CA private key; empty: enrollment is off
  int64_t cert_days = 365;  // lifetime of the certificates it signs
  std::string tokens;       // token file (default: beside storage.path)
  std::string address;      // HOST:PORT printed for probes (default: listen)
  bool enabled() const { return !ca_key.empty(); }
};

// Guard rails of ad-hoc checks (`parallax check`; the `check:` section).
struct CheckConfig {
  int64_t max_concurrent = 4;          // ad-hoc checks running at once, all callers together
  int64_t per_caller_per_minute = 20;  // checks one caller may start per minute (and at once)
  std::chrono::milliseconds max_timeout = std::chrono::seconds(30);  // largest --timeout
};

struct Config {
  std::string listen = "127.0.0.1:7420";
  std::string metrics_listen = "127.0.0.1:9420";
  // The status page (collector/web/web_server.h): "" is off. Served over
  // TLS with the query service's certificate and client-certificate rules
  // when `tls` is configured.
  std::string web_listen;
  // The largest gRPC message the collector accepts (a probe's batch of
  // results); probes size their batches well below it (--max-batch-bytes).
  int64_t max_receive_message_bytes = 4 << 20;
  // The most probes connected at once: a Hello from a further probe name is
  // refused with RESOURCE_EXHAUSTED; a connected probe reconnecting (which
  // replaces its own stream) is always accepted.
  int64_t max_probes = 1000;
  // A probe disconnected for longer than this (on the collector's clock)
  // leaves the live state, /metrics, `status` and `probes`, and stops
  // counting in the diagnosis; its stored history stays. 0: never.
  std::chrono::milliseconds probe_ttl = std::chrono::hours(24 * 7);
  // Per probe stream: results accepted per second on average, and in one
  // burst. Beyond them the stream's reads pause (gRPC flow control pushes
  // back on the probe; nothing read is dropped). 0 per second: unlimited.
  int64_t stream_results_per_second = 10000;
  int64_t stream_results_burst = 20000;
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
  // TCP path trace after a timeout / unreachable (once per target per probe
  // per 5 minutes): at most this many hops (0 disables), within path_budget.
  uint32_t path_max_hops = 30;
  std::chrono::milliseconds path_budget = std::chrono::seconds(3);
  // SSH key exchange for the host key (once per target per probe per this,
  // and when the identification line changes); 0 disables.
  std::chrono::milliseconds hostkey_interval = std::chrono::minutes(10);
  // An OpenSSH known_hosts file: targets without `host_keys:` are pinned to
  // the keys it lists for their host ("" = none).
  std::string known_hosts;
  std::vector<TargetConfig> targets;
  std::map<std::string, ProbePolicyConfig> probes;  // by probe name (certificate identity)
  RevokedConfig revoked;
  MetricsConfig metrics;
  EnrollConfig enroll;
  CheckConfig check;

  // nullptr if no target has that name.
  const TargetConfig* FindTarget(std::string_view name) const;
};

// Limits on a config text, checked before YAML parsing so a huge or deeply
// nested file fails fast with little memory.
inline constexpr size_t kMaxConfigBytes = 2 << 20;
inline constexpr int kMaxConfigNesting = 64;

// Parses YAML text. `source` names it in errors (a file path). On error `out`
// is left unchanged.
Status ParseConfig(std::string_view yaml, const std::string& source, Config* out);
// Reads and parses a file.
Status LoadConfigFile(const std::string& path, Config* out);

}  // namespace parallax::collector
