// `parallax probes`: the probes the collector knows, as a table (name,
// labels, connected, version, last seen; then the targets each probe refuses
// under its own target policy) or JSON {"probes":[{"name","labels",
// "connected","version","last_seen_age_s","clock_offset_s","policy_refused",
// "policy_refusals":[{"target","reason"}]}]} — the same objects as
// the "probes" array of `status -o json`. Probe-sent strings are made
// printable before they reach a terminal. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "parallax/v1/query.pb.h"

namespace parallax::cli {

nlohmann::json ProbesJson(const v1::StatusResponse& resp);
std::string ProbesTable(const v1::StatusResponse& resp);

}  // namespace parallax::cli
