#include "collector/config/enroll_config.h"

namespace parallax::collector {

Status ParseEnrollSection(const FieldReader& f, const YAML::Node& node, Config* c) {
  if (node.IsNull()) return Status::Ok();
  Status s = f.CheckKeys(node, "enroll", {"ca_cert", "ca_key", "cert_days", "tokens", "address"});
  if (!s.ok()) return s;
  EnrollConfig e;
  const std::pair<const char*, std::string*> fields[] = {{"ca_cert", &e.ca_cert},
                                                         {"ca_key", &e.ca_key},
                                                         {"tokens", &e.tokens},
                                                         {"address", &e.address}};
  for (const auto& [key, out] : fields) {
    if (!node[key]) continue;
    if (!(s = f.String(node[key], std::string("enroll.") + key, out)).ok()) return s;
    if (out->empty()) return f.Error(std::string("enroll.") + key, node[key], "is empty");
  }
  if (node["cert_days"] &&
      !(s = f.Int(node["cert_days"], "enroll.cert_days", 1, 825, &e.cert_days)).ok()) {
    return s;
  }
  if (e.ca_cert.empty()) e.ca_cert = c->tls.client_ca;
  if (!e.ca_key.empty()) {
    if (!c->tls.enabled()) {
      return f.Error("enroll.ca_key", node["ca_key"],
                     "is set without tls.cert and tls.key (probes pin the CA of the collector's "
                     "TLS certificate)");
    }
    if (e.ca_cert.empty()) {
      return f.Error("enroll.ca_key", node["ca_key"],
                     "is set without enroll.ca_cert or tls.client_ca (the CA certificate)");
    }
  }
  if (e.tokens.empty()) {
    const std::string& db = c->storage.path;
    size_t slash = db.rfind('/');
    e.tokens =
        (slash == std::string::npos ? std::string(".") : db.substr(0, slash == 0 ? 1 : slash)) +
        "/enroll-tokens";
  }
  if (e.address.empty()) e.address = c->listen;
  c->enroll = std::move(e);
  return Status::Ok();
}

}  // namespace parallax::collector
