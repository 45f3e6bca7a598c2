// The TLS flags shared by the probe and the CLI (--ca, --cert, --key,
// --tls-server-name, --insecure), added to a CLI11 app in one place so both
// spell and explain them alike.
#pragma once

#include <CLI/CLI.hpp>

#include "common/tls.h"

namespace parallax {

inline void AddClientTlsFlags(CLI::App& app, ClientTlsFlags* tls) {
  app.add_option("--ca", tls->ca, "PEM CA certificate that signed the collector's certificate");
  app.add_option("--cert", tls->cert, "PEM client certificate (when the collector requires mTLS)");
  app.add_option("--key", tls->key, "PEM client private key");
  app.add_option("--tls-server-name", tls->server_name,
                 "Expected name in the collector's certificate");
  app.add_flag("--insecure", tls->insecure,
               "Plaintext connection to the collector (logs a warning)");
}

}  // namespace parallax
