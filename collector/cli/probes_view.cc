#include "collector/cli/probes_view.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "collector/cli/render.h"
#include "common/escape.h"

namespace parallax::cli {
namespace {

// A probe names and labels itself: every cell is escaped (common/escape.h).
std::string Printable(const std::string& s) { return EscapeForTerminal(s); }

}  // namespace

nlohmann::json ProbesJson(const v1::StatusResponse& resp) {
  return {{"probes", StatusJson(resp)["probes"]}};
}

std::string ProbesTable(const v1::StatusResponse& resp) {
  std::vector<std::vector<std::string>> rows = {{"PROBE", "LABELS", "CONNECTED", "VERSION",
                                                 "LAST SEEN", "PEER", "SOURCE", "CLOCK", "HEALTH"}};
  for (const v1::ProbeInfo& p : resp.probes()) {
    std::string labels;
    for (const auto& [k, v] :
         std::map<std::string, std::string>(p.labels().begin(), p.labels().end())) {
      labels += (labels.empty() ? "" : ",") + Printable(k) + "=" + Printable(v);
    }
    std::string sources;
    for (const std::string& a : p.source_addresses()) {
      sources += (sources.empty() ? "" : ",") + Printable(a);
    }
    char clock[32] = "-";
    if (p.clock_measured()) std::snprintf(clock, sizeof(clock), "%+.3fs", p.clock_offset_s());
    rows.push_back({Printable(p.name()), labels.empty() ? "-" : labels,
                    p.connected() ? "yes" : "no", Printable(p.version()),
                    HumanDuration(static_cast<int64_t>(p.last_seen_age_s() * 1000)) + " ago",
                    p.peer().empty() ? "-" : Printable(p.peer()), sources.empty() ? "-" : sources,
                    clock, p.healthy() ? "healthy" : "unhealthy"});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  if (resp.probes_size() == 0) out += "(no probe has connected yet)\n";
  for (const v1::ProbeInfo& p : resp.probes()) {
    if (!p.healthy() && !p.health_reason().empty()) {
      out += "\nprobe " + Printable(p.name()) + " is unhealthy: " + Printable(p.health_reason()) +
             "\n";
    }
  }
  // What a probe declines under its own target policy (its flags, not the
  // collector's config): the first few, the rest counted.
  constexpr int kShown = 5;
  for (const v1::ProbeInfo& p : resp.probes()) {
    if (p.policy_refused() == 0) continue;
    out += "\nprobe " + Printable(p.name()) + " refuses " + std::to_string(p.policy_refused()) +
           " assigned target" + (p.policy_refused() == 1 ? "" : "s") +
           " under its own target policy (its flags, e.g. --allow-loopback):\n";
    for (int i = 0; i < p.policy_refusals_size() && i < kShown; ++i) {
      const v1::PolicyRefusal& r = p.policy_refusals(i);
      // The probe's reason names the target ("target \"x\" (host:port): ...").
      out += "  " + Printable(r.reason().empty() ? r.target() : r.reason()) + "\n";
    }
    int rest = static_cast<int>(p.policy_refused()) - std::min(p.policy_refusals_size(), kShown);
    if (rest > 0) out += "  ... and " + std::to_string(rest) + " more (-o json lists 100)\n";
  }
  return out;
}

std::string IgnoreIpLines(const v1::StatusResponse& resp) {
  std::vector<std::string> all;
  std::string notes;
  for (const v1::ProbeInfo& p : resp.probes()) {
    if (p.source_addresses_size() == 0) {
      notes += "# probe " + Printable(p.name()) +
               ": no source address known yet (none of its SSH checks has connected)\n";
    }
    for (const std::string& a : p.source_addresses()) {
      // The collector passes IP addresses only; keep the characters of one.
      if (!a.empty() && a.size() <= 64 &&
          a.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos) {
        all.push_back(a);
      }
    }
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::string ignore = "127.0.0.1/8 ::1", exempt;
  for (const std::string& a : all) {
    ignore += " " + a;
    exempt += (exempt.empty() ? "" : ",") + a;
  }
  std::string out = notes;
  out += "# fail2ban: /etc/fail2ban/jail.local, section [DEFAULT] (or [sshd])\n";
  out += "ignoreip = " + ignore + "\n";
  out += "# sshd (OpenSSH 9.8 or later): /etc/ssh/sshd_config\n";
  out += exempt.empty() ? "# PerSourcePenaltyExemptList (no probe source address known yet)\n"
                        : "PerSourcePenaltyExemptList " + exempt + "\n";
  return out;
}

}  // namespace parallax::cli
