// The CLI's client config file (~/.config/parallax/cli.yaml): defaults for
// the global options, so a sysadmin types `parallax explain web1` and nothing
// else. Keys: collector, output, ca, cert, key, tls_server_name, insecure.
// Precedence (applied by main.cc): flag > environment > this file > default.
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace parallax::cli {

struct ClientConfig {
  std::optional<std::string> collector;
  std::optional<std::string> output;  // "table" or "json"
  std::optional<std::string> ca;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  std::optional<std::string> tls_server_name;
  std::optional<bool> insecure;
};

// The file the CLI reads when --config / $PARALLAX_CLI_CONFIG name none:
// $XDG_CONFIG_HOME/parallax/cli.yaml, else $HOME/.config/parallax/cli.yaml
// ("" when neither variable is set).
std::string DefaultClientConfigPath();

// Parses `yaml` (named `file` in errors). Unknown keys, wrong types and bad
// values are errors naming the file, key, value and line. An empty document
// is valid.
Status ParseClientConfig(const std::string& yaml, const std::string& file, ClientConfig* out);

// Reads and parses `path`. A missing file is NotFound (the caller decides
// whether that matters: it does not for the default path).
Status LoadClientConfig(const std::string& path, ClientConfig* out);

}  // namespace parallax::cli
