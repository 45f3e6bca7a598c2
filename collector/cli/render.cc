#include "collector/cli/render.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <vector>

#include "common/escape.h"
#include "common/escape_proto.h"
#include "common/words.h"

namespace parallax::cli {
namespace {

using nlohmann::json;

json Labels(const google::protobuf::Map<std::string, std::string>& labels) {
  json out = json::object();
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

json PolicyRefusalsJson(const v1::ProbeInfo& p) {
  json out = json::array();
  for (const v1::PolicyRefusal& r : p.policy_refusals()) {
    out.push_back({{"target", r.target()}, {"reason", r.reason()}});
  }
  return out;
}

double Round(double v, int digits) {
  double scale = digits == 3 ? 1000 : 10;
  return static_cast<double>(static_cast<int64_t>(v * scale + (v >= 0 ? 0.5 : -0.5))) / scale;
}

const char* Colour(v1::Outcome o) {
  switch (o) {
    case v1::OUTCOME_OK:
      return "\033[32m";
    case v1::OUTCOME_UNSPECIFIED:
      return "\033[90m";
    case v1::OUTCOME_BANNER_TIMEOUT:
    case v1::OUTCOME_CLOSED:
    case v1::OUTCOME_RESET:
    case v1::OUTCOME_NOT_SSH:
      return "\033[33m";
    default:
      return "\033[31m";
  }
}

std::string Cell(const v1::ProbeStatus& p) {
  if (p.outcome() == v1::OUTCOME_UNSPECIFIED) return "-";
  std::string s(OutcomeWord(p.outcome()));
  char buf[32];
  if (p.outcome() == v1::OUTCOME_OK) {
    std::snprintf(buf, sizeof(buf), " %.1fms", p.connect_ms());
    s += buf;
  }
  if (p.age_s() > 120) {
    std::snprintf(buf, sizeof(buf), " (%.0fs ago)", p.age_s());
    s += buf;
  }
  return s;
}

// Pads to `width` display columns (cells are ASCII).
std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string FormatTime(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

// A copy of an untrusted answer with every string escaped for `mode`: all
// rendering below works on such copies, so no field can reach a terminal raw.
template <typename M>
M Safe(const M& in, EscapeMode mode) {
  M out = in;
  EscapeMessageStrings(&out, mode);
  return out;
}

}  // namespace

std::string DumpJson(const json& doc) {
  return doc.dump(2, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

json StatusJson(const v1::StatusResponse& raw) {
  const v1::StatusResponse resp = Safe(raw, EscapeMode::kUtf8Only);
  json targets = json::array();
  for (const v1::TargetStatus& t : resp.targets()) {
    json probes = json::array();
    for (const v1::ProbeStatus& p : t.probes()) {
      probes.push_back({{"probe", p.probe()},
                        {"labels", Labels(p.labels())},
                        {"outcome", std::string(p.outcome() == v1::OUTCOME_UNSPECIFIED
                                                    ? "none"
                                                    : OutcomeWord(p.outcome()))},
                        {"connect_ms", Round(p.connect_ms(), 3)},
                        {"banner_ms", Round(p.banner_ms(), 3)},
                        {"banner", p.banner()},
                        {"age_s", Round(p.age_s(), 1)},
                        {"address", p.address()},
                        {"detail", p.detail()},
                        {"connected", p.connected()}});
    }
    targets.push_back(
        {{"name", t.name()},
         {"host", t.host()},
         {"port", t.port()},
         {"labels", Labels(t.labels())},
         {"cause", std::string(CauseWord(t.cause() == v1::CAUSE_UNSPECIFIED ? v1::CAUSE_UNKNOWN
                                                                            : t.cause()))},
         {"summary", t.summary()},
         {"probes", probes}});
  }
  json probes = json::array();
  for (const v1::ProbeInfo& p : resp.probes()) {
    probes.push_back(
        {{"name", p.name()},
         {"labels", Labels(p.labels())},
         {"connected", p.connected()},
         {"version", p.version()},
         {"last_seen_age_s", Round(p.last_seen_age_s(), 1)},
         {"clock_offset_s", p.clock_measured() ? json(Round(p.clock_offset_s(), 3)) : json()},
         {"policy_refused", p.policy_refused()},
         {"policy_refusals", PolicyRefusalsJson(p)},
         {"peer", p.peer()},
         {"source_addresses",
          std::vector<std::string>(p.source_addresses().begin(), p.source_addresses().end())},
         {"healthy", p.healthy()},
         {"health_reason", p.health_reason()}});
  }
  return {{"targets", targets}, {"probes", probes}};
}

// A message as JSON with the proto field names (snake_case), defaults omitted.
json ProtoJson(const google::protobuf::Message& m) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_enums_as_ints = false;
  if (!google::protobuf::util::MessageToJsonString(m, &text, options).ok()) return json::object();
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

json HistoryJson(const v1::HistoryResponse& raw) {
  const v1::HistoryResponse resp = Safe(raw, EscapeMode::kUtf8Only);
  json entries = json::array();
  for (const v1::HistoryEntry& e : resp.entries()) {
    entries.push_back(
        {{"time", FormatTime(e.unix_ms())},
         {"unix_ms", e.unix_ms()},
         {"probe", e.probe()},
         {"outcome", std::string(OutcomeWord(e.outcome()))},
         {"connect_ms", Round(e.connect_ms(), 3)},
         {"banner_ms", Round(e.banner_ms(), 3)},
         {"banner", e.banner()},
         {"address", e.address()},
         {"errno", e.error_number()},
         {"detail", e.detail()},
         {"pre_banner", std::vector<std::string>(e.pre_banner().begin(), e.pre_banner().end())},
         // unix_ms is the probe's clock; these the collector's
         // (0: stored before the collector recorded them).
         {"collector_unix_ms", e.collector_unix_ms()},
         {"received_unix_ms", e.received_unix_ms()},
         // The `parallax check` that produced it ("" for a scheduled check).
         {"adhoc_id", e.adhoc_id()}});
    if (e.has_evidence()) entries.back()["evidence"] = ProtoJson(e.evidence());
  }
  json runs = json::array();
  for (const v1::HistoryRun& r : resp.runs()) {
    runs.push_back({{"probe", r.probe()},
                    {"outcome", std::string(OutcomeWord(r.outcome()))},
                    {"from", FormatTime(r.first_unix_ms())},
                    {"to", FormatTime(r.last_unix_ms())},
                    {"first_unix_ms", r.first_unix_ms()},
                    {"last_unix_ms", r.last_unix_ms()},
                    {"count", r.count()},
                    {"connect_min_ms", Round(r.connect_min_ms(), 3)},
                    {"connect_mean_ms", Round(r.connect_mean_ms(), 3)},
                    {"connect_max_ms", Round(r.connect_max_ms(), 3)},
                    {"boot_id", r.boot_id()},
                    {"first_seq", r.first_seq()},
                    {"last_seq", r.last_seq()}});
  }
  return {{"target", resp.target()}, {"entries", entries}, {"runs", runs}};
}

std::string StatusTable(const v1::StatusResponse& raw, bool color) {
  const v1::StatusResponse resp = Safe(raw, EscapeMode::kTerminal);
  std::vector<std::string> probes;  // columns, in name order
  for (const v1::ProbeInfo& p : resp.probes()) probes.push_back(p.name());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<v1::Outcome>> outcomes;
  std::vector<std::string> header = {"TARGET", "ADDRESS", "CAUSE"};
  for (const std::string& p : probes) header.push_back(p);
  rows.push_back(header);
  outcomes.emplace_back(header.size(), v1::OUTCOME_UNSPECIFIED);
  for (const v1::TargetStatus& t : resp.targets()) {
    v1::Cause cause = t.cause() == v1::CAUSE_UNSPECIFIED ? v1::CAUSE_UNKNOWN : t.cause();
    std::vector<std::string> row = {t.name(), t.host() + ":" + std::to_string(t.port()),
                                    std::string(CauseWord(cause))};
    std::vector<v1::Outcome> oc(3, v1::OUTCOME_UNSPECIFIED);
    // Colour only: green ok, grey unknown, yellow ssh_moved (SSH answers,
    // on another port), red for the other failures.
    oc[2] = cause == v1::CAUSE_OK          ? v1::OUTCOME_OK
            : cause == v1::CAUSE_UNKNOWN   ? v1::OUTCOME_UNSPECIFIED
            : cause == v1::CAUSE_SSH_MOVED ? v1::OUTCOME_BANNER_TIMEOUT
                                           : v1::OUTCOME_TIMEOUT;
    for (const std::string& probe : probes) {
      auto it = std::find_if(t.probes().begin(), t.probes().end(),
                             [&](const v1::ProbeStatus& p) { return p.probe() == probe; });
      row.push_back(it == t.probes().end() ? "" : Cell(*it));
      oc.push_back(it == t.probes().end() ? v1::OUTCOME_UNSPECIFIED : it->outcome());
    }
    rows.push_back(row);
    outcomes.push_back(oc);
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t i = 0; i < rows[r].size(); ++i) {
      std::string cell = i + 1 == rows[r].size() ? rows[r][i] : Pad(rows[r][i], widths[i] + 2);
      if (color && r > 0 && i >= 2) {
        cell = std::string(Colour(outcomes[r][i])) + cell + "\033[0m";
      } else if (color && r == 0) {
        cell = "\033[1m" + cell + "\033[0m";
      }
      out += cell;
    }
    out += "\n";
  }
  if (resp.targets_size() == 0) out += "(no targets configured)\n";
  std::string down;
  for (const v1::ProbeInfo& p : resp.probes()) {
    if (!p.connected()) down += (down.empty() ? "" : ", ") + p.name();
  }
  if (resp.probes_size() == 0) out += "(no probe has connected yet)\n";
  if (!down.empty()) out += "probes not connected: " + down + "\n";
  out += ClockOffsetsText(resp);
  return out;
}

std::string ClockOffsetText(const std::string& probe, double offset_s) {
  if (std::abs(offset_s) <= kClockOffsetShownS) return "";
  char buf[160];
  std::snprintf(buf, sizeof(buf), "probe %s's clock is %.1f s %s the collector's", probe.c_str(),
                std::abs(offset_s), offset_s > 0 ? "ahead of" : "behind");
  return buf;
}

std::string ClockOffsetsText(const v1::StatusResponse& resp) {
  std::string out;
  for (const v1::ProbeInfo& p : resp.probes()) {
    if (!p.clock_measured()) continue;
    std::string line = ClockOffsetText(p.name(), p.clock_offset_s());
    if (!line.empty()) out += line + " (its results are dated by the collector's clock)\n";
  }
  return out;
}

std::string HistoryTable(const v1::HistoryResponse& raw, bool color) {
  const v1::HistoryResponse resp = Safe(raw, EscapeMode::kTerminal);
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-24s  %-12s  %-19s  %10s  %10s  %s\n", "TIME", "PROBE",
                "OUTCOME", "CONNECT", "BANNER", "DETAIL");
  out += line;
  for (const v1::HistoryEntry& e : resp.entries()) {
    std::string detail = e.banner().empty() ? e.detail() : e.banner();
    if (!e.pre_banner().empty()) detail += " [server said: " + e.pre_banner(0) + "]";
    if (!e.adhoc_id().empty()) detail += " [parallax check " + e.adhoc_id() + "]";
    std::string outcome(OutcomeWord(e.outcome()));
    if (color) outcome = std::string(Colour(e.outcome())) + outcome + "\033[0m";
    std::snprintf(line, sizeof(line), "%-24s  %-12s  %-*s  %8.1fms  %8.1fms  %s\n",
                  FormatTime(e.unix_ms()).c_str(), e.probe().c_str(), color ? 19 + 9 : 19,
                  outcome.c_str(), e.connect_ms(), e.banner_ms(), detail.c_str());
    out += line;
  }
  if (resp.entries_size() == 0) out += "(no results stored for this target)\n";
  if (resp.runs_size() > 0) {
    // Runs: what the changes above began, with how long each lasted.
    out += "\n";
    std::snprintf(line, sizeof(line), "%-24s  %-24s  %-12s  %-19s  %7s  %s\n", "RUN FROM", "TO",
                  "PROBE", "OUTCOME", "CHECKS", "CONNECT MIN/MEAN/MAX");
    out += line;
    for (const v1::HistoryRun& r : resp.runs()) {
      std::string outcome(OutcomeWord(r.outcome()));
      if (color) outcome = std::string(Colour(r.outcome())) + outcome + "\033[0m";
      std::snprintf(line, sizeof(line), "%-24s  %-24s  %-12s  %-*s  %7lld  %.1f/%.1f/%.1fms\n",
                    FormatTime(r.first_unix_ms()).c_str(), FormatTime(r.last_unix_ms()).c_str(),
                    r.probe().c_str(), color ? 19 + 9 : 19, outcome.c_str(),
                    static_cast<long long>(r.count()), r.connect_min_ms(), r.connect_mean_ms(),
                    r.connect_max_ms());
      out += line;
    }
  }
  return out;
}

std::string HumanDuration(int64_t ms) {
  int64_t s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

namespace {

json OtherAddressesJson(const v1::EvidenceItem& e) {
  json out = json::array();
  for (const v1::AddressOutcome& a : e.other_addresses()) {
    out.push_back({{"address", a.address()},
                   {"outcome", std::string(OutcomeWord(a.outcome()))},
                   {"detail", a.detail()}});
  }
  return out;
}

// The IP of "ip:port" / "[v6]:port".
std::string IpOf(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.find(':') != colon) return address;
  return address.substr(0, colon);
}

// Address x vantage point: what each probe resolved and what SSH did at
// each address it checked. Empty when every probe checked one and the same
// address (nothing to compare).
std::string AddressMatrix(const v1::Verdict& v) {
  std::vector<std::string> addresses;  // in first-seen order
  auto add = [&addresses](const std::string& a) {
    if (!a.empty() && std::find(addresses.begin(), addresses.end(), a) == addresses.end()) {
      addresses.push_back(a);
    }
  };
  bool resolved = false, several = false;
  for (const v1::EvidenceItem& e : v.evidence()) {
    resolved |= e.dns_a_size() + e.dns_aaaa_size() > 0 || !e.dns_a_error().empty();
    several |= e.other_addresses_size() > 0;
    add(IpOf(e.address()));
    for (const auto& a : e.other_addresses()) add(IpOf(a.address()));
    for (const auto& a : e.dns_a()) add(a);
    for (const auto& a : e.dns_aaaa()) add(a);
  }
  if (!resolved || (addresses.size() < 2 && !several)) return "";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"ADDRESS"};
  for (const v1::EvidenceItem& e : v.evidence()) head.push_back(e.probe());
  rows.push_back(head);
  for (const std::string& a : addresses) {
    std::vector<std::string> row = {a};
    for (const v1::EvidenceItem& e : v.evidence()) {
      std::string cell = "-";
      bool in_dns = std::find(e.dns_a().begin(), e.dns_a().end(), a) != e.dns_a().end() ||
                    std::find(e.dns_aaaa().begin(), e.dns_aaaa().end(), a) != e.dns_aaaa().end();
      if (in_dns) cell = "resolved";
      if (IpOf(e.address()) == a) cell = std::string(OutcomeWord(e.outcome()));
      for (const auto& o : e.other_addresses()) {
        if (IpOf(o.address()) == a) cell = std::string(OutcomeWord(o.outcome()));
      }
      row.push_back(cell);
    }
    rows.push_back(row);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  std::string out =
      "\nAddresses (what each vantage point resolved, and SSH at each address it checked; "
      "\"resolved\": not checked):\n";
  for (const auto& r : rows) {
    out += "  ";
    for (size_t i = 0; i < r.size(); ++i) out += i + 1 == r.size() ? r[i] : Pad(r[i], w[i] + 2);
    out += "\n";
  }
  // IPv6 broken from one network while IPv4 works there.
  for (const v1::EvidenceItem& e : v.evidence()) {
    bool v4_ok = false, v6_fails = false;
    auto judge = [&](const std::string& address, v1::Outcome o) {
      bool v6 = IpOf(address).find(':') != std::string::npos;
      if (!v6 && o == v1::OUTCOME_OK) v4_ok = true;
      if (v6 && o != v1::OUTCOME_OK) v6_fails = true;
    };
    judge(e.address(), e.outcome());
    for (const auto& o : e.other_addresses()) judge(o.address(), o.outcome());
    if (v4_ok && v6_fails) {
      out += "  " + e.probe() + " (" + e.network() +
             "): IPv6 fails while IPv4 works — IPv6 is broken from that network (routing, "
             "firewall for IPv6 only, or a wrong AAAA record)\n";
    }
  }
  return out;
}

}  // namespace

json VerdictJson(const v1::Verdict& raw) {
  const v1::Verdict v = Safe(raw, EscapeMode::kUtf8Only);
  json evidence = json::array();
  for (const v1::EvidenceItem& e : v.evidence()) {
    evidence.push_back(
        {{"probe", e.probe()},
         {"labels", Labels(e.labels())},
         {"network", e.network()},
         {"outcome", std::string(OutcomeWord(e.outcome()))},
         {"connect_ms", Round(e.connect_ms(), 3)},
         {"age_s", Round(e.age_s(), 1)},
         {"role", e.role()},
         {"alive_evidence", e.alive_evidence()},
         {"detail", e.detail()},
         {"clock_offset_s", e.clock_measured() ? json(Round(e.clock_offset_s(), 3)) : json()},
         {"pre_banner", std::vector<std::string>(e.pre_banner().begin(), e.pre_banner().end())},
         {"ssh_icmp_error", e.has_ssh_icmp_error() ? ProtoJson(e.ssh_icmp_error()) : json()},
         {"path", e.has_path() ? ProtoJson(e.path()) : json()},
         {"ssh_answered_on_port", e.ssh_answered_on_port()},
         {"address", e.address()},
         {"dns_a", std::vector<std::string>(e.dns_a().begin(), e.dns_a().end())},
         {"dns_aaaa", std::vector<std::string>(e.dns_aaaa().begin(), e.dns_aaaa().end())},
         {"dns_a_error", e.dns_a_error()},
         {"dns_aaaa_error", e.dns_aaaa_error()},
         {"other_addresses", OtherAddressesJson(e)},
         {"previous_address", e.previous_address()},
         {"address_changed_unix_ms", e.address_changed_unix_ms()},
         {"source_address", e.source_address()},
         {"host_key_fingerprint", e.host_key_fingerprint()},
         {"host_key_type", e.host_key_type()}});
  }
  return {
      {"target", v.target()},
      {"host", v.host()},
      {"port", v.port()},
      {"cause", std::string(CauseWord(v.cause()))},
      {"confidence", Round(v.confidence(), 3)},
      {"summary", v.summary()},
      {"since", FormatTime(v.since_unix_ms())},
      {"since_unix_ms", v.since_unix_ms()},
      {"evidence", evidence},
      {"disagreeing", std::vector<std::string>(v.disagreeing().begin(), v.disagreeing().end())},
      {"blocked_networks",
       std::vector<std::string>(v.blocked_networks().begin(), v.blocked_networks().end())},
      {"pinned_host_keys",
       std::vector<std::string>(v.pinned_host_keys().begin(), v.pinned_host_keys().end())},
      {"remediation", std::vector<std::string>(v.remediation().begin(), v.remediation().end())}};
}

json IncidentsJson(const v1::IncidentsResponse& raw, int64_t now_ms) {
  const v1::IncidentsResponse resp = Safe(raw, EscapeMode::kUtf8Only);
  json out = json::array();
  for (const v1::Incident& i : resp.incidents()) {
    json changes = json::array();
    for (const v1::CauseChange& c : i.changes()) {
      changes.push_back({{"time", FormatTime(c.unix_ms())},
                         {"cause", std::string(CauseWord(c.cause()))},
                         {"summary", c.summary()}});
    }
    int64_t end = i.closed_unix_ms() != 0 ? i.closed_unix_ms() : now_ms;
    out.push_back(
        {{"id", i.id()},
         {"target", i.target()},
         {"cause", std::string(CauseWord(i.cause()))},
         {"opened", FormatTime(i.opened_unix_ms())},
         {"closed", i.closed_unix_ms() != 0 ? json(FormatTime(i.closed_unix_ms())) : json()},
         {"open", i.closed_unix_ms() == 0},
         {"duration_s", (end - i.opened_unix_ms()) / 1000},
         {"summary", i.summary()},
         {"changes", changes}});
  }
  return {{"incidents", out}};
}

std::string ExplainText(const v1::Verdict& raw, int64_t now_ms, bool color) {
  const v1::Verdict v = Safe(raw, EscapeMode::kTerminal);
  std::string cause(CauseWord(v.cause()));
  std::string upper;
  for (char c : cause) upper += c == '_' ? ' ' : static_cast<char>(std::toupper(c));
  std::string bold = color ? "\033[1m" : "", reset = color ? "\033[0m" : "";
  std::string tint = !color                             ? ""
                     : v.cause() == v1::CAUSE_OK        ? "\033[32m"
                     : v.cause() == v1::CAUSE_SSH_MOVED ? "\033[33m"
                                                        : "\033[31m";
  char conf[64];
  std::snprintf(conf, sizeof(conf), "%.0f%%", v.confidence() * 100);
  std::string out = bold + v.target() + reset + " (" + v.host() + ":" + std::to_string(v.port()) +
                    "): " + tint + bold + upper + reset + " — confidence " + conf;
  if (v.since_unix_ms() > 0) {
    out += ", since " + FormatTime(v.since_unix_ms()) + " (" +
           HumanDuration(now_ms - v.since_unix_ms()) + ")";
  }
  out += "\n  " + v.summary() + "\n";
  if (v.evidence_size() > 0) {
    out += "\nEvidence (one line per vantage point):\n";
    std::vector<std::vector<std::string>> rows = {
        {"PROBE", "NETWORK", "OUTCOME", "CONNECT", "ROLE", "DETAIL"}};
    for (const v1::EvidenceItem& e : v.evidence()) {
      char ms[32];
      std::snprintf(ms, sizeof(ms), "%.1fms", e.connect_ms());
      rows.push_back({e.probe(), e.network(), std::string(OutcomeWord(e.outcome())),
                      e.connect_ms() > 0 ? ms : "-", e.role(), e.detail()});
    }
    std::vector<size_t> w(6, 0);
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
    }
    for (const auto& r : rows) {
      out += "  ";
      for (size_t i = 0; i < r.size(); ++i) out += i + 1 == r.size() ? r[i] : Pad(r[i], w[i] + 2);
      out += "\n";
    }
    // For a failing vantage point whose path was traced: where it went silent.
    for (const v1::EvidenceItem& e : v.evidence()) {
      if (e.outcome() == v1::OUTCOME_OK || !e.has_path() || e.path().reached()) continue;
      const v1::TcpPath& path = e.path();
      std::string line = "  " + e.probe() + ": path ";
      if (path.last_answering_ttl() == 0) {
        line += "silent from the first hop";
      } else {
        std::string sender;
        for (const v1::TcpPathHop& h : path.hops()) {
          if (h.ttl() == path.last_answering_ttl()) sender = h.sender();
        }
        line += "went silent after hop " + std::to_string(path.last_answering_ttl());
        if (!sender.empty()) line += " (" + sender + ")";
      }
      if (!path.ended().empty()) line += "; ended: " + path.ended();
      out += line + "\n";
    }
    out += AddressMatrix(v);
    for (const v1::EvidenceItem& e : v.evidence()) {
      if (e.previous_address().empty() || e.address_changed_unix_ms() == 0) continue;
      out += "  " + e.probe() + ": address changed from " + e.previous_address() + " to " +
             IpOf(e.address()) + " at " + FormatTime(e.address_changed_unix_ms()) + " (" +
             HumanDuration(now_ms - e.address_changed_unix_ms()) + " ago)\n";
    }
    // The SSH host key per vantage point (its latest key exchange).
    bool any_key = false;
    for (const v1::EvidenceItem& e : v.evidence()) any_key |= !e.host_key_fingerprint().empty();
    if (any_key || v.pinned_host_keys_size() > 0) {
      std::string pinned;
      for (const std::string& p : v.pinned_host_keys()) pinned += (pinned.empty() ? "" : ", ") + p;
      out += "\nHost key (pinned: " + (pinned.empty() ? std::string("none yet") : pinned) + "):\n";
      for (const v1::EvidenceItem& e : v.evidence()) {
        if (e.host_key_fingerprint().empty()) {
          out += "  " + Pad(e.probe(), w[0] + 2) + "(no key exchange yet)\n";
          continue;
        }
        bool is_pinned = false;
        for (const std::string& p : v.pinned_host_keys())
          is_pinned |= p == e.host_key_fingerprint();
        out += "  " + Pad(e.probe(), w[0] + 2) + e.host_key_fingerprint() + " (" +
               e.host_key_type() + ")" +
               (v.pinned_host_keys_size() == 0 ? ""
                : is_pinned                    ? "  pinned"
                                               : "  NOT PINNED") +
               "\n";
      }
    }
    for (const v1::EvidenceItem& e : v.evidence()) {
      if (!e.clock_measured()) continue;
      std::string line = ClockOffsetText(e.probe(), e.clock_offset_s());
      if (!line.empty()) out += "  " + line + "; its results are dated by the collector's clock\n";
    }
  }
  if (v.remediation_size() > 0) {
    out += "\nWhat to do:\n";
    for (int i = 0; i < v.remediation_size(); ++i) {
      out += "  " + std::to_string(i + 1) + ". " + v.remediation(i) + "\n";
    }
  }
  return out;
}

namespace {
std::string NotAskedText(const v1::CheckStarted& s) {
  std::string out;
  for (const v1::ProbeHealth& h : s.not_asked()) {
    out += "  not asked: " + h.probe() + " (" + h.reason() + ")\n";
  }
  return out;
}
}  // namespace

std::string CheckStartedText(const v1::CheckStarted& raw) {
  const v1::CheckStarted s = Safe(raw, EscapeMode::kTerminal);
  std::string names;
  for (int i = 0; i < s.probes_size(); ++i) names += (i > 0 ? ", " : "") + s.probes(i);
  char timeout[32];
  std::snprintf(timeout, sizeof(timeout), "%.1f s", s.timeout_ms() / 1000.0);
  return "Checking " + s.host() + ":" + std::to_string(s.port()) + " from " +
         std::to_string(s.probes_size()) + (s.probes_size() == 1 ? " probe" : " probes") + " (" +
         names + "), timeout " + timeout + "\n" + NotAskedText(s);
}

std::string CheckResultLine(const v1::CheckProbeResult& raw, bool color) {
  const v1::CheckProbeResult r = Safe(raw, EscapeMode::kTerminal);
  auto network = r.labels().find("network");
  std::string outcome(OutcomeWord(r.outcome()));
  std::string shown = color ? std::string(Colour(r.outcome())) + outcome + "\033[0m" : outcome;
  if (outcome.size() < 19) shown += std::string(19 - outcome.size(), ' ');
  char ms[32] = "-";
  if (r.connect_ms() > 0) std::snprintf(ms, sizeof(ms), "%.1fms", r.connect_ms());
  std::string detail = r.banner().empty() ? r.detail() : r.banner();
  char elapsed[32];
  std::snprintf(elapsed, sizeof(elapsed), "(%.2f s)", r.elapsed_s());
  return "  " + Pad(r.probe(), 12) + "  " +
         Pad(network == r.labels().end() ? "-" : network->second, 10) + "  " + shown + "  " +
         Pad(ms, 9) + "  " + detail + (detail.empty() ? "" : "  ") + elapsed + "\n";
}

std::string CheckUnansweredText(const v1::CheckDone& raw, double timeout_s) {
  const v1::CheckDone d = Safe(raw, EscapeMode::kTerminal);
  if (d.unanswered_size() == 0) return "";
  std::string names;
  for (int i = 0; i < d.unanswered_size(); ++i) names += (i > 0 ? ", " : "") + d.unanswered(i);
  char t[32];
  std::snprintf(t, sizeof(t), "%.1f s", timeout_s);
  return "\nNo answer in time (" + std::string(t) + " + slack) from: " + names +
         " (disconnected, too slow, or a probe too old for ad-hoc checks)\n";
}

json CheckJson(const v1::CheckStarted& raw_started,
               const std::vector<v1::CheckProbeResult>& raw_results, const v1::CheckDone* done) {
  const v1::CheckStarted s = Safe(raw_started, EscapeMode::kUtf8Only);
  json results = json::array();
  for (const v1::CheckProbeResult& raw : raw_results) {
    const v1::CheckProbeResult r = Safe(raw, EscapeMode::kUtf8Only);
    results.push_back({{"probe", r.probe()},
                       {"labels", Labels(r.labels())},
                       {"outcome", std::string(OutcomeWord(r.outcome()))},
                       {"connect_ms", Round(r.connect_ms(), 3)},
                       {"banner_ms", Round(r.banner_ms(), 3)},
                       {"banner", r.banner()},
                       {"address", r.address()},
                       {"detail", r.detail()},
                       {"elapsed_s", Round(r.elapsed_s(), 3)},
                       {"evidence", r.has_evidence() ? ProtoJson(r.evidence()) : json()}});
  }
  json not_asked = json::array();
  for (const v1::ProbeHealth& h : s.not_asked()) {
    not_asked.push_back({{"probe", h.probe()}, {"reason", h.reason()}});
  }
  json out = {{"id", s.id()},
              {"host", s.host()},
              {"port", s.port()},
              {"timeout_ms", s.timeout_ms()},
              {"probes", std::vector<std::string>(s.probes().begin(), s.probes().end())},
              {"not_asked", not_asked},
              {"results", results},
              {"verdict", json()},
              {"unanswered", json::array()},
              {"elapsed_s", json()}};
  if (done != nullptr) {
    const v1::CheckDone d = Safe(*done, EscapeMode::kUtf8Only);
    out["verdict"] = VerdictJson(d.verdict());
    out["unanswered"] = std::vector<std::string>(d.unanswered().begin(), d.unanswered().end());
    out["elapsed_s"] = Round(d.elapsed_s(), 3);
  }
  return out;
}

std::string ProbeHealthText(const v1::ExplainResponse& raw) {
  const v1::ExplainResponse resp = Safe(raw, EscapeMode::kTerminal);
  std::string out;
  for (const v1::ProbeHealth& p : resp.probes()) {
    if (!p.healthy()) out += "  probe " + p.probe() + ": " + p.reason() + "\n";
  }
  return out.empty() ? "" : "\nProbe problems (excluded from verdicts):\n" + out;
}

std::string IncidentsTable(const v1::IncidentsResponse& raw, int64_t now_ms) {
  const v1::IncidentsResponse resp = Safe(raw, EscapeMode::kTerminal);
  std::string out;
  char line[1024];
  std::snprintf(line, sizeof(line), "%-5s  %-16s  %-16s  %-24s  %-10s  %s\n", "ID", "TARGET",
                "CAUSE", "OPENED", "DURATION", "STATE");
  out += line;
  for (const v1::Incident& i : resp.incidents()) {
    bool open = i.closed_unix_ms() == 0;
    int64_t end = open ? now_ms : i.closed_unix_ms();
    std::string causes;
    for (const v1::CauseChange& c : i.changes()) {
      causes += (causes.empty() ? "" : " -> ") + std::string(CauseWord(c.cause()));
    }
    std::snprintf(line, sizeof(line), "%-5lld  %-16s  %-16s  %-24s  %-10s  %s\n",
                  static_cast<long long>(i.id()), i.target().c_str(),
                  std::string(CauseWord(i.cause())).c_str(), FormatTime(i.opened_unix_ms()).c_str(),
                  HumanDuration(end - i.opened_unix_ms()).c_str(),
                  open ? "open" : ("closed " + FormatTime(i.closed_unix_ms())).c_str());
    out += line;
    if (i.changes_size() > 1) out += "       causes: " + causes + "\n";
    if (!i.summary().empty()) out += "       " + i.summary() + "\n";
  }
  if (resp.incidents_size() == 0) out += "(no incidents)\n";
  return out;
}

std::string AcceptHostKeyText(const v1::AcceptHostKeyResponse& raw) {
  const v1::AcceptHostKeyResponse resp = Safe(raw, EscapeMode::kTerminal);
  std::string out = resp.message() + "\n";
  for (const std::string& p : resp.previous()) out += "  was: " + p + "\n";
  return out;
}

json AcceptHostKeyJson(const std::string& target, const v1::AcceptHostKeyResponse& raw) {
  const v1::AcceptHostKeyResponse resp = Safe(raw, EscapeMode::kUtf8Only);
  return {{"target", target},
          {"previous", std::vector<std::string>(resp.previous().begin(), resp.previous().end())},
          {"pinned", std::vector<std::string>(resp.pinned().begin(), resp.pinned().end())},
          {"message", resp.message()}};
}

}  // namespace parallax::cli
