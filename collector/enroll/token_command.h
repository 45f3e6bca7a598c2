// `parallax-collector --config FILE token create --name NAME [--ttl 1h]`:
// issues a one-time enrollment token (TokenStore) and prints it with the
// enrollment CA's SHA-256 fingerprint and the exact `parallax-probe enroll`
// command to run at the new site. Runs beside a running collector (the token
// file is shared under a lock). The token is printed once and stored hashed.
//
// Output (stdout), stable for scripts: lines "token: ...", "name: ...",
// "expires: ...", "ca_fingerprint: ...", then the command on a line of its
// own, indented by two spaces and starting with "parallax-probe enroll ".
#pragma once

#include <cstdio>
#include <string>

#include "collector/config/config.h"

namespace parallax::collector {

// Returns the process exit code: 0 printed, 2 bad arguments or enrollment
// off, 1 the token file could not be written. Errors go to `err`.
int RunTokenCreate(const Config& config, const std::string& config_path, const std::string& name,
                   const std::string& ttl, std::FILE* out, std::FILE* err);

}  // namespace parallax::collector
