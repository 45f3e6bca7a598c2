// `parallax probes`: the probes the collector knows, as a table (name,
// labels, connected, version, last seen, the address the collector sees
// (peer), the source addresses its checks leave from, clock offset, health;
// then the targets each probe refuses under its own target policy) or JSON
// {"probes":[{"name","labels","connected","version","last_seen_age_s",
// "clock_offset_s","policy_refused","policy_refusals":[{"target","reason"}],
// "peer","source_addresses","healthy","health_reason"}]} — the same objects
// as the "probes" array of `status -o json`. IgnoreIpLines: the fail2ban
// `ignoreip = ...` line and the sshd `PerSourcePenaltyExemptList ...` line
// that exempt every probe's source addresses. Probe-sent strings are made
// printable before they reach a terminal. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "parallax/v1/query.pb.h"

namespace parallax::cli {

nlohmann::json ProbesJson(const v1::StatusResponse& resp);
std::string ProbesTable(const v1::StatusResponse& resp);
std::string IgnoreIpLines(const v1::StatusResponse& resp);

}  // namespace parallax::cli
