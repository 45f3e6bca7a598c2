#include "collector/config/config_parser.h"

#include "collector/config/address.h"
#include "collector/config/enroll_config.h"
#include "collector/config/known_hosts.h"
#include "collector/config/security_config.h"
#include "collector/config/yaml_fields.h"
#include "collector/store/pg_util.h"
#include "common/duration.h"
#include "common/escape.h"

namespace parallax::collector {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinInterval{100};
constexpr milliseconds kMaxInterval = std::chrono::hours(24);

class Parser {
 public:
  explicit Parser(const std::string& source) : f_(source) {}

  Status Parse(const YAML::Node& root, Config* c) {
    if (root.IsNull()) return Status::Ok();  // an empty file: every default
    Status s = f_.CheckKeys(root, "",
                            {"listen",
                             "metrics_listen",
                             "web_listen",
                             "tls",
                             "storage",
                             "interval",
                             "timeout",
                             "liveness_ports",
                             "diagnosis",
                             "targets",
                             "probes",
                             "revoked",
                             "metrics",
                             "max_receive_message_bytes",
                             "alt_ports",
                             "closed_port",
                             "path_max_hops",
                             "path_budget",
                             "hostkey_interval",
                             "known_hosts",
                             "max_probes",
                             "probe_ttl",
                             "stream_results_per_second",
                             "stream_results_burst",
                             "enroll",
                             "check"},
                            {"targets"});
    if (!s.ok()) return s;
    if (root["listen"] && !(s = Listen(root["listen"], "listen", &c->listen)).ok()) return s;
    if (root["metrics_listen"] &&
        !(s = Listen(root["metrics_listen"], "metrics_listen", &c->metrics_listen)).ok()) {
      return s;
    }
    // web_listen: the status page (collector/web); empty or absent: off.
    if (root["web_listen"] &&
        !(root["web_listen"].IsScalar() && root["web_listen"].Scalar().empty()) &&
        !(s = Listen(root["web_listen"], "web_listen", &c->web_listen)).ok()) {
      return s;
    }
    if (root["max_receive_message_bytes"] &&
        !(s = f_.Int(root["max_receive_message_bytes"], "max_receive_message_bytes", 1 << 20,
                     int64_t{1} << 30, &c->max_receive_message_bytes))
             .ok()) {
      return s;
    }
    if (root["max_probes"] &&
        !(s = f_.Int(root["max_probes"], "max_probes", 1, 1'000'000, &c->max_probes)).ok()) {
      return s;
    }
    if (root["probe_ttl"] &&
        !(s = f_.Duration(root["probe_ttl"], "probe_ttl", &c->probe_ttl)).ok()) {
      return s;
    }
    if (root["stream_results_per_second"] &&
        !(s = f_.Int(root["stream_results_per_second"], "stream_results_per_second", 0, 10'000'000,
                     &c->stream_results_per_second))
             .ok()) {
      return s;
    }
    if (root["stream_results_burst"] &&
        !(s = f_.Int(root["stream_results_burst"], "stream_results_burst", 1, 100'000'000,
                     &c->stream_results_burst))
             .ok()) {
      return s;
    }
    if (root["tls"] && !(s = Tls(root["tls"], &c->tls)).ok()) return s;
    if (root["storage"] && !(s = Storage(root["storage"], &c->storage)).ok()) return s;
    if (root["diagnosis"] && !(s = Diagnosis(root["diagnosis"], &c->diagnosis)).ok()) return s;
    if (root["check"] && !(s = Check(root["check"], &c->check)).ok()) return s;
    s = Timing(root, "", c->interval, c->timeout, &c->interval, &c->timeout);
    if (!s.ok()) return s;
    if (root["liveness_ports"] &&
        !(s = f_.PortList(root["liveness_ports"], "liveness_ports", &c->liveness_ports)).ok()) {
      return s;
    }
    if (root["probes"] && !(s = ParseProbesSection(f_, root["probes"], &c->probes)).ok()) return s;
    if (root["revoked"] && !(s = ParseRevokedSection(f_, root["revoked"], &c->revoked)).ok()) {
      return s;
    }
    if (root["metrics"] && !(s = ParseMetricsSection(f_, root["metrics"], &c->metrics)).ok()) {
      return s;
    }
    if (root["alt_ports"] &&
        !(s = f_.PortList(root["alt_ports"], "alt_ports", &c->alt_ports)).ok()) {
      return s;
    }
    if (root["closed_port"] &&
        !(s = ClosedPort(root["closed_port"], "closed_port", &c->closed_port)).ok()) {
      return s;
    }
    if (!(s = Path(root, "", &c->path_max_hops, &c->path_budget)).ok()) return s;
    if (!(s = HostKeyInterval(root, "", &c->hostkey_interval)).ok()) return s;
    if (root["known_hosts"] &&
        !(s = f_.String(root["known_hosts"], "known_hosts", &c->known_hosts)).ok()) {
      return s;
    }
    if (root["enroll"] && !(s = ParseEnrollSection(f_, root["enroll"], c)).ok()) return s;
    if (!root["targets"]) return Status::Ok();
    const YAML::Node targets = root["targets"];
    if (targets.IsNull()) return Status::Ok();
    if (!(s = f_.ExpectList(targets, "targets")).ok()) return s;
    std::map<std::string, int> lines;  // name -> line of its first definition
    for (size_t i = 0; i < targets.size(); ++i) {
      TargetConfig t;
      s = Target(targets[i], IndexPath("targets", i), *c, &t);
      if (!s.ok()) return s;
      const YAML::Node name = targets[i]["name"];
      auto [it, inserted] = lines.emplace(t.name, LineOf(name));
      if (!inserted) {
        return f_.Error(IndexPath("targets", i) + ".name", name,
                        "duplicate target name " + Quote(t.name) + " (first defined at line " +
                            std::to_string(it->second) + ")");
      }
      c->targets.push_back(std::move(t));
    }
    return Status::Ok();
  }

 private:
  Status Listen(const YAML::Node& node, const std::string& path, std::string* out) {
    std::string v;
    Status s = f_.String(node, path, &v);
    if (!s.ok()) return s;
    std::string why = CheckListenAddress(v);
    if (!why.empty()) return f_.Error(path, node, Quote(v) + " " + why);
    *out = v;
    return Status::Ok();
  }

  Status Tls(const YAML::Node& node, TlsConfig* tls) {
    Status s = f_.CheckKeys(node, "tls", {"cert", "key", "client_ca"});
    if (!s.ok()) return s;
    const std::pair<const char*, std::string*> fields[] = {
        {"cert", &tls->cert}, {"key", &tls->key}, {"client_ca", &tls->client_ca}};
    for (const auto& [key, out] : fields) {
      if (!node[key]) continue;
      if (!(s = f_.String(node[key], std::string("tls.") + key, out)).ok()) return s;
      if (out->empty()) return f_.Error(std::string("tls.") + key, node[key], "is empty");
    }
    if (!tls->key.empty() && tls->cert.empty()) {
      return f_.Error("tls.key", node["key"], "is set without tls.cert");
    }
    if (!tls->cert.empty() && tls->key.empty()) {
      return f_.Error("tls.cert", node["cert"], "is set without tls.key");
    }
    if (!tls->client_ca.empty() && tls->cert.empty()) {
      return f_.Error("tls.client_ca", node["client_ca"],
                      "is set without tls.cert and tls.key (mTLS needs server TLS)");
    }
    return Status::Ok();
  }

  Status Storage(const YAML::Node& node, StorageConfig* st) {
    Status s =
        f_.CheckKeys(node, "storage",
                     {"driver", "path", "dsn", "partition_width", "retention", "incident_retention",
                      "busy_timeout", "busy_retry", "compaction", "change_retention"});
    if (!s.ok()) return s;
    if (node["driver"]) {
      if (!(s = f_.String(node["driver"], "storage.driver", &st->driver)).ok()) return s;
      if (st->driver != "sqlite" && st->driver != "postgres") {
        return f_.Error(
            "storage.driver", node["driver"],
            "\"" + EscapeForTerminal(st->driver) + "\" is not a driver (use sqlite or postgres)");
      }
    }
    if (node["dsn"]) {
      if (!(s = f_.String(node["dsn"], "storage.dsn", &st->dsn)).ok()) return s;
      Status v = collector::pg::ValidateDsn(st->dsn);
      if (!v.ok()) {
        return f_.Error(
            "storage.dsn", node["dsn"],
            "\"" + EscapeForTerminal(collector::pg::RedactDsn(st->dsn)) + "\" " + v.message());
      }
    }
    if (st->driver == "postgres" && st->dsn.empty()) {
      return f_.Error("storage.dsn", node, "is required with driver postgres");
    }
    if (st->driver != "postgres" && node["dsn"]) {
      return f_.Error("storage.dsn", node["dsn"], "is for driver postgres (set storage.driver)");
    }
    if (node["partition_width"]) {
      const YAML::Node n = node["partition_width"];
      if (!(s = f_.Duration(n, "storage.partition_width", &st->partition_width)).ok()) return s;
      if (st->partition_width < std::chrono::minutes(1)) {
        return f_.Error("storage.partition_width", n, n.Scalar() + " is below the minimum 1m");
      }
    }
    if (node["path"]) {
      if (!(s = f_.String(node["path"], "storage.path", &st->path)).ok()) return s;
      if (st->path.empty()) return f_.Error("storage.path", node["path"], "is empty");
      if (st->path == ":memory:") {
        return f_.Error("storage.path", node["path"], "\":memory:\" is not supported");
      }
    }
    if (node["retention"]) {
      if (!(s = f_.Duration(node["retention"], "storage.retention", &st->retention)).ok()) return s;
    }
    if (node["compaction"]) {
      std::string v;
      if (!(s = f_.String(node["compaction"], "storage.compaction", &v)).ok()) return s;
      if (v == "on" || v == "true") {
        st->compaction = true;
      } else if (v == "off" || v == "false") {
        st->compaction = false;
      } else {
        return f_.Error("storage.compaction", node["compaction"],
                        "\"" + EscapeForTerminal(v) + "\" is not on or off");
      }
    }
    if (node["change_retention"]) {
      const YAML::Node n = node["change_retention"];
      if (!(s = f_.Duration(n, "storage.change_retention", &st->change_retention)).ok()) return s;
      if (st->change_retention.count() != 0 && st->retention.count() != 0 &&
          st->change_retention < st->retention) {
        return f_.Error("storage.change_retention", n,
                        n.Scalar() + " is shorter than storage.retention (the changes are what " +
                            "is kept longer than the runs)");
      }
    }
    if (!node["change_retention"] &&
        (st->retention.count() == 0 || st->retention > st->change_retention)) {
      st->change_retention = st->retention;  // never shorter than the runs' retention
    }
    if (node["incident_retention"]) {
      const YAML::Node n = node["incident_retention"];
      if (!(s = f_.Duration(n, "storage.incident_retention", &st->incident_retention)).ok()) {
        return s;
      }
    }
    if (node["busy_timeout"]) {
      const YAML::Node n = node["busy_timeout"];
      if (!(s = f_.Duration(n, "storage.busy_timeout", &st->busy_timeout)).ok()) return s;
      if (st->busy_timeout > std::chrono::minutes(10)) {
        return f_.Error("storage.busy_timeout", n, n.Scalar() + " is above the maximum 10m");
      }
    }
    if (node["busy_retry"]) {
      const YAML::Node n = node["busy_retry"];
      if (!(s = f_.Duration(n, "storage.busy_retry", &st->busy_retry)).ok()) return s;
      if (st->busy_retry > std::chrono::minutes(10)) {
        return f_.Error("storage.busy_retry", n, n.Scalar() + " is above the maximum 10m");
      }
    }
    return Status::Ok();
  }

  Status Diagnosis(const YAML::Node& node, DiagnosisConfig* d) {
    Status s = f_.CheckKeys(node, "diagnosis", {"hysteresis", "evaluate_every"});
    if (!s.ok()) return s;
    if (node["hysteresis"]) {
      int64_t v = 0;
      if (!(s = f_.Int(node["hysteresis"], "diagnosis.hysteresis", 1, 1000, &v)).ok()) return s;
      d->hysteresis = static_cast<int>(v);
    }
    if (node["evaluate_every"]) {
      const YAML::Node n = node["evaluate_every"];
      if (!(s = f_.Duration(n, "diagnosis.evaluate_every", &d->evaluate_every)).ok()) return s;
      if (d->evaluate_every.count() != 0 && d->evaluate_every < kMinInterval) {
        return f_.Error("diagnosis.evaluate_every", n,
                        n.Scalar() + " is below the minimum 100ms (0 = smallest target interval)");
      }
    }
    return Status::Ok();
  }

  // The `check:` section: guard rails of ad-hoc checks (`parallax check`).
  Status Check(const YAML::Node& node, CheckConfig* c) {
    Status s =
        f_.CheckKeys(node, "check", {"max_concurrent", "per_caller_per_minute", "max_timeout"});
    if (!s.ok()) return s;
    if (node["max_concurrent"] &&
        !(s = f_.Int(node["max_concurrent"], "check.max_concurrent", 1, 1000, &c->max_concurrent))
             .ok()) {
      return s;
    }
    if (node["per_caller_per_minute"] &&
        !(s = f_.Int(node["per_caller_per_minute"], "check.per_caller_per_minute", 1, 100000,
                     &c->per_caller_per_minute))
             .ok()) {
      return s;
    }
    if (const YAML::Node n = node["max_timeout"]) {
      if (!(s = f_.Duration(n, "check.max_timeout", &c->max_timeout)).ok()) return s;
      if (c->max_timeout < kMinInterval || c->max_timeout > std::chrono::minutes(5)) {
        return f_.Error("check.max_timeout", n, n.Scalar() + " is outside 100ms..5m");
      }
    }
    return Status::Ok();
  }

  // Reads `interval` and `timeout` of `node` (defaults given), checks
  // 100ms <= interval <= 24h and 0 < timeout <= interval (like Prometheus'
  // scrape_timeout: a check may use its whole interval).
  Status Timing(const YAML::Node& node, const std::string& path, milliseconds def_interval,
                milliseconds def_timeout, milliseconds* interval, milliseconds* timeout) {
    const YAML::Node in = node["interval"];
    const YAML::Node to = node["timeout"];
    const std::string in_path = ChildPath(path, "interval");
    const std::string to_path = ChildPath(path, "timeout");
    milliseconds i = def_interval, t = def_timeout;
    Status s;
    if (in && !(s = f_.Duration(in, in_path, &i)).ok()) return s;
    if (to && !(s = f_.Duration(to, to_path, &t)).ok()) return s;
    if (in && (i < kMinInterval || i > kMaxInterval)) {
      return f_.Error(in_path, in, in.Scalar() + " is outside 100ms..24h");
    }
    if (to && t.count() <= 0) return f_.Error(to_path, to, to.Scalar() + " must be above 0");
    if (t > i) {
      const YAML::Node& at = to ? to : (in ? in : node);
      return f_.Error(to_path, at,
                      FormatDuration(t) + " must not exceed the interval " + FormatDuration(i) +
                          (to ? "" : " (timeout inherited)"));
    }
    *interval = i;
    *timeout = t;
    return Status::Ok();
  }

  Status Target(const YAML::Node& node, const std::string& path, const Config& c, TargetConfig* t) {
    Status s = f_.CheckKeys(node, path,
                            {"name", "host", "port", "interval", "timeout", "labels", "probes",
                             "liveness_ports", "alt_ports", "closed_port", "path_max_hops",
                             "path_budget", "addresses", "hostkey_interval", "host_keys"});
    if (!s.ok()) return s;
    for (const char* required : {"name", "host"}) {
      if (!node[required]) return f_.Error(ChildPath(path, required), node, "is missing");
    }
    const std::pair<const char*, std::string*> strings[] = {{"name", &t->name}, {"host", &t->host}};
    for (const auto& [key, out] : strings) {
      const std::string p = ChildPath(path, key);
      if (!(s = f_.String(node[key], p, out)).ok()) return s;
      std::string why = std::string(key) == "name" ? CheckName(*out) : CheckHost(*out);
      if (!why.empty()) return f_.Error(p, node[key], Quote(*out) + " " + why);
    }
    if (node["port"] && !(s = f_.Port(node["port"], ChildPath(path, "port"), &t->port)).ok()) {
      return s;
    }
    s = Timing(node, path, c.interval, c.timeout, &t->interval, &t->timeout);
    if (!s.ok()) return s;
    if (node["labels"] &&
        !(s = f_.Labels(node["labels"], ChildPath(path, "labels"), &t->labels)).ok()) {
      return s;
    }
    if (node["probes"] &&
        !(s = f_.Labels(node["probes"], ChildPath(path, "probes"), &t->probes)).ok()) {
      return s;
    }
    t->liveness_ports = c.liveness_ports;
    if (node["liveness_ports"] &&
        !(s = f_.PortList(node["liveness_ports"], ChildPath(path, "liveness_ports"),
                          &t->liveness_ports))
             .ok()) {
      return s;
    }
    t->alt_ports = c.alt_ports;
    if (node["alt_ports"] &&
        !(s = f_.PortList(node["alt_ports"], ChildPath(path, "alt_ports"), &t->alt_ports)).ok()) {
      return s;
    }
    if (t->alt_ports.size() > 8) {
      return f_.Error(ChildPath(path, "alt_ports"), node["alt_ports"] ? node["alt_ports"] : node,
                      std::to_string(t->alt_ports.size()) + " ports, at most 8");
    }
    if (t->liveness_ports.size() > 16) {
      return f_.Error(ChildPath(path, "liveness_ports"),
                      node["liveness_ports"] ? node["liveness_ports"] : node,
                      std::to_string(t->liveness_ports.size()) + " ports, at most 16");
    }
    t->path_max_hops = c.path_max_hops;
    t->path_budget = c.path_budget;
    if (!(s = Path(node, path, &t->path_max_hops, &t->path_budget)).ok()) return s;
    if (node["addresses"]) {
      const std::string p = ChildPath(path, "addresses");
      if (!(s = f_.String(node["addresses"], p, &t->addresses)).ok()) return s;
      if (t->addresses != "first" && t->addresses != "all" && t->addresses != "ipv4" &&
          t->addresses != "ipv6") {
        return f_.Error(p, node["addresses"],
                        Quote(t->addresses) + " is not one of first, all, ipv4, ipv6");
      }
    }
    t->hostkey_interval = c.hostkey_interval;
    if (!(s = HostKeyInterval(node, path, &t->hostkey_interval)).ok()) return s;
    if (node["host_keys"] &&
        !(s = HostKeys(node["host_keys"], ChildPath(path, "host_keys"), &t->host_keys)).ok()) {
      return s;
    }
    t->closed_port = c.closed_port;
    if (node["closed_port"] &&
        !(s = ClosedPort(node["closed_port"], ChildPath(path, "closed_port"), &t->closed_port))
             .ok()) {
      return s;
    }
    return Status::Ok();
  }

  // path_max_hops (0..64) and path_budget (100ms..60s) under `node`, if given.
  Status Path(const YAML::Node& node, const std::string& path, uint32_t* max_hops,
              std::chrono::milliseconds* budget) {
    Status s;
    if (node["path_max_hops"]) {
      int64_t v = 0;
      if (!(s = f_.Int(node["path_max_hops"], ChildPath(path, "path_max_hops"), 0, 64, &v)).ok()) {
        return s;
      }
      *max_hops = static_cast<uint32_t>(v);
    }
    if (node["path_budget"]) {
      std::chrono::milliseconds d{0};
      if (!(s = f_.Duration(node["path_budget"], ChildPath(path, "path_budget"), &d)).ok()) {
        return s;
      }
      if (d < std::chrono::milliseconds(100) || d > std::chrono::seconds(60)) {
        return f_.Error(ChildPath(path, "path_budget"), node["path_budget"],
                        FormatDuration(d) + " is not in 100ms..60s");
      }
      *budget = d;
    }
    return Status::Ok();
  }

  // hostkey_interval under `node`, if given: 0 (disabled) or 1s..24h.
  Status HostKeyInterval(const YAML::Node& node, const std::string& path,
                         std::chrono::milliseconds* out) {
    if (!node["hostkey_interval"]) return Status::Ok();
    const std::string p = ChildPath(path, "hostkey_interval");
    if (node["hostkey_interval"].IsScalar() && node["hostkey_interval"].Scalar() == "0") {
      *out = std::chrono::milliseconds(0);
      return Status::Ok();
    }
    std::chrono::milliseconds d{0};
    Status s = f_.Duration(node["hostkey_interval"], p, &d);
    if (!s.ok()) return s;
    if (d != std::chrono::milliseconds(0) &&
        (d < std::chrono::seconds(1) || d > std::chrono::hours(24))) {
      return f_.Error(p, node["hostkey_interval"], FormatDuration(d) + " is not 0 or in 1s..24h");
    }
    *out = d;
    return Status::Ok();
  }

  // A list of "SHA256:<43 base64 characters>" fingerprints.
  Status HostKeys(const YAML::Node& node, const std::string& path, std::vector<std::string>* out) {
    Status s = f_.ExpectList(node, path);
    if (!s.ok()) return s;
    if (node.size() > 16) {
      return f_.Error(path, node, std::to_string(node.size()) + " fingerprints, at most 16");
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string p = path + "[" + std::to_string(i) + "]";
      std::string fp;
      if (!(s = f_.String(node[i], p, &fp)).ok()) return s;
      if (!IsSshFingerprint(fp)) {
        return f_.Error(p, node[i],
                        Quote(fp) +
                            " is not a fingerprint as ssh-keygen -lf prints it "
                            "(SHA256: and 43 base64 characters)");
      }
      out->push_back(fp);
    }
    return Status::Ok();
  }

  // A port, or 0 (disabled).
  Status ClosedPort(const YAML::Node& node, const std::string& path, uint16_t* out) {
    if (node.IsScalar() && node.Scalar() == "0") {
      *out = 0;
      return Status::Ok();
    }
    return f_.Port(node, path, out);
  }

  FieldReader f_;
};

}  // namespace

Status ParseConfigTree(const YAML::Node& root, const std::string& source, Config* out) {
  return Parser(source).Parse(root, out);
}

}  // namespace parallax::collector
