// The enroll: section of the collector config (docs/CONFIG.md):
//   enroll:
//     ca_cert: /etc/parallax/ca.pem    # default: tls.client_ca
//     ca_key: /etc/parallax/ca.key     # set: enrollment is on
//     cert_days: 365                   # 1..825
//     tokens: /var/lib/parallax/enroll-tokens  # default: beside storage.path
//     address: collector.example.net:7420      # default: listen
// Needs tls (the probe pins the CA that signed the collector's certificate).
// Parsed after tls: and storage: (defaults come from them). Thread-compatible.
#pragma once

#include <yaml-cpp/yaml.h>

#include "collector/config/config.h"
#include "collector/config/yaml_fields.h"

namespace parallax::collector {

Status ParseEnrollSection(const FieldReader& f, const YAML::Node& node, Config* c);

}  // namespace parallax::collector
