#include "collector/config/security_config.h"

#include <algorithm>
#include <cctype>

namespace parallax::collector {
namespace {

bool ProbeNameOk(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

Status ParseProbesSection(const FieldReader& f, const YAML::Node& node,
                          std::map<std::string, ProbePolicyConfig>* out) {
  if (node.IsNull()) return Status::Ok();
  Status s = f.ExpectMap(node, "probes");
  if (!s.ok()) return s;
  std::map<std::string, ProbePolicyConfig> probes;
  for (const auto& kv : node) {
    std::string name;
    if (!(s = f.String(kv.first, "probes", &name)).ok()) return s;
    const std::string path = ChildPath("probes", name);
    if (!ProbeNameOk(name)) {
      return f.Error(path, kv.first,
                     Quote(name) + " is not a probe name (1..64 of [A-Za-z0-9._-])");
    }
    if (probes.count(name) != 0) return f.Error(path, kv.first, "duplicate probe");
    if (!(s = f.CheckKeys(kv.second, path, {"labels"})).ok()) return s;
    ProbePolicyConfig p;
    if (kv.second["labels"] &&
        !(s = f.Labels(kv.second["labels"], ChildPath(path, "labels"), &p.pinned_labels)).ok()) {
      return s;
    }
    probes[name] = std::move(p);
  }
  *out = std::move(probes);
  return Status::Ok();
}

Status ParseRevokedSection(const FieldReader& f, const YAML::Node& node, RevokedConfig* out) {
  if (node.IsNull()) return Status::Ok();
  Status s = f.ExpectList(node, "revoked");
  if (!s.ok()) return s;
  RevokedConfig r;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = IndexPath("revoked", i);
    std::string v;
    if (!(s = f.String(node[i], path, &v)).ok()) return s;
    if (v.rfind("serial:", 0) == 0) {
      std::string hex = CanonicalSerial(std::string_view(v).substr(7));
      if (hex.empty()) {
        return f.Error(
            path, node[i],
            Quote(v) + " is not a serial (serial:HEX, as `openssl x509 -serial` prints)");
      }
      r.serials.push_back(hex);
    } else if (ProbeNameOk(v)) {
      r.identities.push_back(v);
    } else {
      return f.Error(path, node[i],
                     Quote(v) + " is neither an identity (1..64 of [A-Za-z0-9._-]) nor serial:HEX");
    }
  }
  *out = std::move(r);
  return Status::Ok();
}

Status ParseMetricsSection(const FieldReader& f, const YAML::Node& node, MetricsConfig* out) {
  Status s = f.CheckKeys(node, "metrics", {"threads", "request_timeout", "basic_auth"});
  if (!s.ok()) return s;
  MetricsConfig m;
  if (node["threads"]) {
    int64_t v = 0;
    if (!(s = f.Int(node["threads"], "metrics.threads", 2, 256, &v)).ok()) return s;
    m.threads = static_cast<int>(v);
  }
  if (node["request_timeout"]) {
    std::chrono::milliseconds d{0};
    if (!(s = f.Duration(node["request_timeout"], "metrics.request_timeout", &d)).ok()) return s;
    if (d < std::chrono::milliseconds(100) || d > std::chrono::minutes(5)) {
      return f.Error("metrics.request_timeout", node["request_timeout"],
                     node["request_timeout"].Scalar() + " is outside 100ms..5m");
    }
    m.request_timeout_ms = static_cast<int>(d.count());
  }
  if (const YAML::Node auth = node["basic_auth"]) {
    if (!(s = f.CheckKeys(auth, "metrics.basic_auth", {"user", "password"})).ok()) return s;
    for (const char* key : {"user", "password"}) {
      if (!auth[key]) return f.Error(std::string("metrics.basic_auth.") + key, auth, "is missing");
    }
    if (!(s = f.String(auth["user"], "metrics.basic_auth.user", &m.basic_auth_user)).ok()) return s;
    if (!(s = f.String(auth["password"], "metrics.basic_auth.password", &m.basic_auth_password))
             .ok()) {
      return s;
    }
    if (m.basic_auth_user.empty() || m.basic_auth_user.find(':') != std::string::npos) {
      return f.Error("metrics.basic_auth.user", auth["user"], "must be non-empty without ':'");
    }
    if (m.basic_auth_password.size() < 8) {
      return f.Error("metrics.basic_auth.password", auth["password"],
                     "is shorter than 8 characters");
    }
  }
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace parallax::collector
