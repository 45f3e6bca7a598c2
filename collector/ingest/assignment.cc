#include "collector/ingest/assignment.h"

namespace parallax::collector {

v1::Assignment BuildAssignment(const ConfigSnapshot& snapshot,
                               const std::map<std::string, std::string>& probe_labels) {
  v1::Assignment a;
  a.set_generation(snapshot.generation);
  if (!snapshot.config) return a;
  for (const TargetConfig& t : snapshot.config->targets) {
    if (!t.SelectsProbe(probe_labels)) continue;
    v1::Target* out = a.add_targets();
    out->set_name(t.name);
    out->set_host(t.host);
    out->set_port(t.port);
    out->set_interval_ms(static_cast<uint32_t>(t.interval.count()));
    out->set_timeout_ms(static_cast<uint32_t>(t.timeout.count()));
    out->mutable_labels()->insert(t.labels.begin(), t.labels.end());
    for (uint16_t p : t.liveness_ports) out->add_liveness_ports(p);
    for (uint16_t p : t.alt_ports) out->add_alt_ports(p);
    out->set_closed_port(t.closed_port);
    out->set_path_max_hops(t.path_max_hops);
    out->set_path_budget_ms(static_cast<uint32_t>(t.path_budget.count()));
    out->set_addresses(t.addresses == "all"    ? v1::ADDRESSES_ALL
                       : t.addresses == "ipv4" ? v1::ADDRESSES_IPV4
                       : t.addresses == "ipv6" ? v1::ADDRESSES_IPV6
                                               : v1::ADDRESSES_FIRST);
    out->set_hostkey_interval_ms(static_cast<uint32_t>(t.hostkey_interval.count()));
  }
  return a;
}

}  // namespace parallax::collector
