#include "collector/web/html.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "collector/cli/render.h"
#include "common/escape_proto.h"
#include "common/words.h"

namespace parallax::collector::web {
namespace {

using nlohmann::json;

std::string Esc(const json& v) {
  if (v.is_string()) return HtmlEscape(v.get<std::string>());
  if (v.is_null()) return "";
  return HtmlEscape(v.dump());
}

std::string Fixed(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string Head(std::string_view title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         HtmlEscape(title) +
         "</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n<body>\n";
}

std::string UtcTime(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return buf;
}

std::string Header(int64_t now_ms, std::string_view page) {
  return "<header><a class=\"home\" href=\"/\">Parallax</a> <span class=\"page\">" +
         HtmlEscape(page) + "</span> <span id=\"updated\" data-now=\"" + std::to_string(now_ms) +
         "\">updated " + UtcTime(now_ms) + "</span></header>\n";
}

std::string CauseBadge(v1::Cause cause) {
  if (cause == v1::CAUSE_UNSPECIFIED) cause = v1::CAUSE_UNKNOWN;
  return "<span class=\"badge " + CauseClass(cause) + "\">" + std::string(CauseWord(cause)) +
         "</span>";
}

// The matrix cell text: the same words as `parallax status`.
std::string CellText(const v1::ProbeStatus& p) {
  if (p.outcome() == v1::OUTCOME_UNSPECIFIED) return "-";
  std::string s(OutcomeWord(p.outcome()));
  if (p.outcome() == v1::OUTCOME_OK) s += Fixed(p.connect_ms(), " %.1fms");
  if (p.age_s() > 120) s += Fixed(p.age_s(), " (%.0fs ago)");
  return s;
}

std::string CellTitle(const v1::ProbeStatus& p) {
  std::string t = p.probe() + (p.connected() ? "" : " (disconnected)");
  if (!p.banner().empty()) t += "\n" + p.banner();
  if (!p.detail().empty()) t += "\n" + p.detail();
  return t;
}

std::string Matrix(const v1::StatusResponse& s, bool check_buttons) {
  std::vector<std::string> probes;
  std::set<std::string> seen;
  for (const v1::ProbeInfo& p : s.probes()) {
    if (seen.insert(p.name()).second) probes.push_back(p.name());
  }
  for (const v1::TargetStatus& t : s.targets()) {
    for (const v1::ProbeStatus& p : t.probes()) {
      if (seen.insert(p.probe()).second) probes.push_back(p.probe());
    }
  }
  std::string out =
      "<section><h2>Targets &times; vantage points</h2><div class=\"scroll\">"
      "<table id=\"matrix\" class=\"matrix\"><thead><tr><th>target</th><th>cause</th>";
  for (const std::string& p : probes) out += "<th>" + HtmlEscape(p) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const v1::TargetStatus& t : s.targets()) {
    out += "<tr><th class=\"target\"><a href=\"/target/" + HtmlEscape(PathEncode(t.name())) +
           "\">" + HtmlEscape(t.name()) + "</a><div class=\"host\">" +
           HtmlEscape(t.host() + ":" + std::to_string(t.port())) + "</div>";
    if (check_buttons) {
      out += "<button type=\"button\" class=\"check-row\" data-target=\"" +
             HtmlEscape(CheckTargetText(t.host(), t.port())) + "\">check now</button>";
    }
    out += "</th>";
    v1::Cause cause = t.cause() == v1::CAUSE_UNSPECIFIED ? v1::CAUSE_UNKNOWN : t.cause();
    out += "<td class=\"cause " + CauseClass(cause) + "\" title=\"" + HtmlEscape(t.summary()) +
           "\">" + std::string(CauseWord(cause)) + "</td>";
    std::map<std::string, const v1::ProbeStatus*> cells;
    for (const v1::ProbeStatus& p : t.probes()) cells[p.probe()] = &p;
    for (const std::string& name : probes) {
      auto it = cells.find(name);
      if (it == cells.end()) {
        out += "<td class=\"outcome none\">&middot;</td>";
        continue;
      }
      const v1::ProbeStatus& p = *it->second;
      out += "<td class=\"outcome " + OutcomeClass(p.outcome()) + "\" title=\"" +
             HtmlEscape(CellTitle(p)) + "\">" + HtmlEscape(CellText(p)) + "</td>";
    }
    out += "</tr>\n";
  }
  if (s.targets_size() == 0) {
    out += "<tr><td colspan=\"2\">(no targets configured)</td></tr>\n";
  }
  return out + "</tbody></table></div></section>\n";
}

// The form posts nothing itself: the script sends the JSON (POST
// /api/check) and fills #check-results, #check-verdict and #check-text.
std::string CheckSection(const CheckBox& box) {
  if (!box.shown) return "";
  const bool usable = box.refusal.empty();
  std::string disabled = usable ? "" : " disabled";
  std::string out =
      "<section id=\"check\"><h2>Check now</h2>"
      "<form id=\"check-form\" class=\"check-form\" autocomplete=\"off\">"
      "<label for=\"check-target\">HOST[:PORT]</label> "
      "<input id=\"check-target\" name=\"target\" type=\"text\" maxlength=\"300\" "
      "spellcheck=\"false\" autocapitalize=\"off\" placeholder=\"web1.example.com:22\"" +
      disabled +
      "> <label for=\"check-timeout\">timeout</label> <input id=\"check-timeout\" "
      "name=\"timeout_s\" type=\"number\" min=\"0.1\" max=\"300\" step=\"0.1\" "
      "placeholder=\"s\"" +
      disabled + "> <button id=\"check-run\" type=\"submit\"" + disabled +
      ">Check from every probe</button></form>\n";
  if (!usable) out += "<p class=\"warn\">" + HtmlEscape(box.refusal) + "</p>\n";
  out +=
      "<p id=\"check-status\" class=\"check-status\"></p>"
      "<div class=\"scroll\"><table id=\"check-results\" hidden><thead><tr><th>probe</th>"
      "<th>network</th><th>outcome</th><th>connect</th><th>banner or detail</th><th>after</th>"
      "</tr></thead><tbody></tbody></table></div>"
      "<div id=\"check-verdict\" class=\"check-verdict\"></div>"
      "<details id=\"check-details\" hidden><summary>As <code>parallax check</code> prints "
      "it</summary><pre id=\"check-text\"></pre></details></section>\n";
  return out;
}

std::string Incidents(const v1::IncidentsResponse& incidents, int64_t now_ms) {
  json doc = cli::IncidentsJson(incidents, now_ms);
  std::string out =
      "<section><h2>Incidents</h2><div class=\"scroll\"><table id=\"incidents\">"
      "<thead><tr><th>target</th><th>cause</th><th>opened</th><th>duration</th><th>state</th>"
      "<th>summary</th></tr></thead><tbody>\n";
  int i = 0;
  for (const json& inc : doc["incidents"]) {
    const v1::Incident& raw = incidents.incidents(i++);
    bool open = inc["open"].get<bool>();
    out += "<tr class=\"" + std::string(open ? "open" : "closed") + "\"><td><a href=\"/target/" +
           HtmlEscape(PathEncode(raw.target())) + "\">" + Esc(inc["target"]) + "</a></td><td>" +
           CauseBadge(raw.cause()) + "</td><td>" + Esc(inc["opened"]) + "</td><td>" +
           HtmlEscape(cli::HumanDuration(inc["duration_s"].get<int64_t>() * 1000)) + "</td><td>" +
           (open ? std::string("open") : "closed " + Esc(inc["closed"])) + "</td><td>" +
           Esc(inc["summary"]) + "</td></tr>\n";
  }
  if (incidents.incidents_size() == 0) out += "<tr><td colspan=\"6\">(no incidents)</td></tr>\n";
  return out + "</tbody></table></div></section>\n";
}

std::string Probes(const v1::StatusResponse& s, const v1::ExplainResponse& explain) {
  std::map<std::string, const v1::ProbeHealth*> health;
  for (const v1::ProbeHealth& h : explain.probes()) health[h.probe()] = &h;
  std::string out =
      "<section><h2>Probes</h2><div class=\"scroll\"><table id=\"probes\"><thead><tr>"
      "<th>probe</th><th>labels</th><th>connected</th><th>health</th><th>clock offset</th>"
      "<th>last seen</th><th>version</th></tr></thead><tbody>\n";
  for (const v1::ProbeInfo& p : s.probes()) {
    std::string labels;
    for (const auto& [k, v] : p.labels()) labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    auto h = health.find(p.name());
    bool healthy = h == health.end() || h->second->healthy();
    std::string health_text =
        h == health.end() ? "-" : (healthy ? "healthy" : "unhealthy: " + h->second->reason());
    std::string clock = p.clock_measured() ? Fixed(p.clock_offset_s(), "%+.3f s") : "-";
    std::string clock_note =
        p.clock_measured() ? cli::ClockOffsetText(p.name(), p.clock_offset_s()) : "";
    out += "<tr><td>" + HtmlEscape(p.name()) + "</td><td>" + HtmlEscape(labels) +
           "</td><td class=\"" + (p.connected() ? "good" : "bad") + "\">" +
           (p.connected() ? "yes" : "no") + "</td><td class=\"" +
           (h == health.end() ? "none"
            : healthy         ? "good"
                              : "bad") +
           "\">" + HtmlEscape(health_text) + "</td><td class=\"" +
           (clock_note.empty() ? "" : "warn") + "\" title=\"" + HtmlEscape(clock_note) + "\">" +
           clock + "</td><td>" +
           (p.last_seen_age_s() < 0 ? "-" : Fixed(p.last_seen_age_s(), "%.0f s ago")) +
           "</td><td>" + HtmlEscape(p.version()) + "</td></tr>\n";
  }
  if (s.probes_size() == 0) out += "<tr><td colspan=\"7\">(no probes)</td></tr>\n";
  return out + "</tbody></table></div></section>\n";
}

std::string Path(const v1::EvidenceItem& e) {
  const v1::TcpPath& path = e.path();
  std::string out = "<h3>Path from " + HtmlEscape(e.probe()) + "</h3><p>" +
                    HtmlEscape(path.ended().empty() ? "" : "ended: " + path.ended()) +
                    "</p><div class=\"scroll\"><table class=\"path\"><thead><tr><th>hop</th>"
                    "<th>sender</th><th>rtt</th><th>answer</th></tr></thead><tbody>";
  for (const v1::TcpPathHop& h : path.hops()) {
    out += "<tr><td>" + std::to_string(h.ttl()) + "</td><td>" +
           HtmlEscape(h.sender().empty() ? "*" : h.sender()) + (h.is_target() ? " (target)" : "") +
           "</td><td>" + (h.sender().empty() ? "-" : Fixed(h.rtt_us() / 1000.0, "%.1f ms")) +
           "</td><td>" + HtmlEscape(h.answer()) + "</td></tr>";
  }
  return out + "</tbody></table></div>\n";
}

std::string Verdict(const v1::Verdict& raw, int64_t now_ms) {
  const v1::Verdict v = TerminalSafeCopy(raw);
  std::string out = "<section class=\"verdict\"><h1>" + HtmlEscape(v.target()) +
                    " <span class=\"host\">" +
                    HtmlEscape(v.host() + ":" + std::to_string(v.port())) + "</span></h1><p>" +
                    CauseBadge(v.cause()) + " confidence " + Fixed(v.confidence() * 100, "%.0f%%");
  if (v.since_unix_ms() > 0) {
    out += ", since " + UtcTime(v.since_unix_ms()) + " (" +
           HtmlEscape(cli::HumanDuration(now_ms - v.since_unix_ms())) + ")";
  }
  out += "</p><p id=\"summary\" class=\"summary\">" + HtmlEscape(v.summary()) + "</p>\n";
  out +=
      "<h2>Evidence (one line per vantage point)</h2><div class=\"scroll\"><table "
      "id=\"evidence\"><thead><tr><th>probe</th><th>network</th><th>outcome</th><th>connect</th>"
      "<th>role</th><th>detail</th></tr></thead><tbody>\n";
  for (const v1::EvidenceItem& e : v.evidence()) {
    out += "<tr><td>" + HtmlEscape(e.probe()) + "</td><td>" + HtmlEscape(e.network()) +
           "</td><td class=\"" + OutcomeClass(e.outcome()) + "\">" +
           std::string(OutcomeWord(e.outcome())) + "</td><td>" +
           (e.connect_ms() > 0 ? Fixed(e.connect_ms(), "%.1fms") : "-") + "</td><td>" +
           HtmlEscape(e.role()) + "</td><td>" + HtmlEscape(e.detail());
    if (e.pre_banner_size() > 0) {
      out += "<div class=\"prebanner\">before the banner:";
      for (const std::string& line : e.pre_banner())
        out += "<br><code>" + HtmlEscape(line) + "</code>";
      out += "</div>";
    }
    out += "</td></tr>\n";
  }
  if (v.evidence_size() == 0) out += "<tr><td colspan=\"6\">(no evidence yet)</td></tr>\n";
  out += "</tbody></table></div>\n";
  for (const v1::EvidenceItem& e : v.evidence()) {
    if (e.outcome() != v1::OUTCOME_OK && e.has_path()) out += Path(e);
  }
  for (const v1::EvidenceItem& e : v.evidence()) {
    if (!e.clock_measured()) continue;
    std::string line = cli::ClockOffsetText(e.probe(), e.clock_offset_s());
    if (!line.empty()) {
      out += "<p class=\"warn\">" +
             HtmlEscape(line + "; its results are dated by the collector's clock") + "</p>\n";
    }
  }
  if (v.remediation_size() > 0) {
    out += "<h2>What to do</h2><ol id=\"remediation\">";
    for (const std::string& r : v.remediation()) out += "<li>" + HtmlEscape(r) + "</li>";
    out += "</ol>\n";
  }
  // The very text `parallax explain` prints (its own terminal escaping).
  out += "<details><summary>As <code>parallax explain</code> prints it</summary><pre>" +
         HtmlEscape(cli::ExplainText(raw, now_ms, false)) + "</pre></details></section>\n";
  return out;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string QuoteForMessage(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + (s.size() > 100 ? "...\"" : "\"");
}

std::string PathEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool PathDecode(std::string_view text, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      *out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string CheckTargetText(const std::string& host, uint32_t port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port == 0 ? 22 : port);
}

std::string CauseClass(v1::Cause c) {
  if (c == v1::CAUSE_UNSPECIFIED) c = v1::CAUSE_UNKNOWN;
  const char* severity = c == v1::CAUSE_OK                                    ? "good"
                         : c == v1::CAUSE_SSH_MOVED || c == v1::CAUSE_PARTIAL ? "warn"
                         : c == v1::CAUSE_UNKNOWN                             ? "none"
                                                                              : "bad";
  return "cause-" + std::string(CauseWord(c)) + " " + severity;
}

std::string OutcomeClass(v1::Outcome o) {
  // The CLI's colours (collector/cli/render.cc): green, yellow, red, grey.
  const char* severity;
  switch (o) {
    case v1::OUTCOME_OK:
      severity = "good";
      break;
    case v1::OUTCOME_UNSPECIFIED:
      severity = "none";
      break;
    case v1::OUTCOME_BANNER_TIMEOUT:
    case v1::OUTCOME_CLOSED:
    case v1::OUTCOME_RESET:
    case v1::OUTCOME_NOT_SSH:
      severity = "warn";
      break;
    default:
      severity = "bad";
  }
  return "outcome-" + std::string(o == v1::OUTCOME_UNSPECIFIED ? "none" : OutcomeWord(o)) + " " +
         severity;
}

std::string IndexPage(const v1::StatusResponse& raw_status,
                      const v1::IncidentsResponse& raw_incidents,
                      const v1::ExplainResponse& raw_explain, int64_t now_ms, const CheckBox& box) {
  const v1::StatusResponse status = TerminalSafeCopy(raw_status);
  const v1::IncidentsResponse incidents = TerminalSafeCopy(raw_incidents);
  const v1::ExplainResponse explain = TerminalSafeCopy(raw_explain);
  return Head("Parallax status") + Header(now_ms, "status") + "<main>\n" + CheckSection(box) +
         Matrix(status, box.shown && box.refusal.empty()) + Incidents(incidents, now_ms) +
         Probes(status, explain) +
         "</main>\n<script src=\"/static/app.js\"></script>\n</body></html>\n";
}

std::string TargetPage(const v1::ExplainResponse& raw, int64_t now_ms) {
  const v1::ExplainResponse explain = TerminalSafeCopy(raw);
  std::string title = explain.verdicts_size() == 1 ? explain.verdicts(0).target() : "explain";
  std::string out = Head(title + " - Parallax") + Header(now_ms, "explain") + "<main>\n";
  for (const v1::Verdict& v : raw.verdicts()) out += Verdict(v, now_ms);
  std::string problems;
  for (const v1::ProbeHealth& p : explain.probes()) {
    if (!p.healthy()) problems += "<li>" + HtmlEscape(p.probe() + ": " + p.reason()) + "</li>";
  }
  if (!problems.empty()) {
    out += "<section><h2>Probe problems (excluded from verdicts)</h2><ul>" + problems +
           "</ul></section>\n";
  }
  return out + "</main>\n<script src=\"/static/app.js\"></script>\n</body></html>\n";
}

std::string ErrorPage(int code, std::string_view title, std::string_view message) {
  return Head(std::to_string(code) + " " + std::string(title)) +
         "<header><a class=\"home\" href=\"/\">Parallax</a></header><main><h1>" +
         std::to_string(code) + " " + HtmlEscape(title) + "</h1><p>" + HtmlEscape(message) +
         "</p></main></body></html>\n";
}

json StatusDocument(const v1::StatusResponse& status, const v1::IncidentsResponse& incidents,
                    const v1::ExplainResponse& explain, int64_t now_ms) {
  json health = json::object();
  const v1::ExplainResponse safe_explain = TerminalSafeCopy(explain);
  for (const v1::ProbeHealth& h : safe_explain.probes()) {
    health[h.probe()] = {{"healthy", h.healthy()}, {"reason", h.reason()}};
  }
  json status_doc = cli::StatusJson(TerminalSafeCopy(status));
  // Each target's page, and the cause's colour classes, for the script.
  for (json& t : status_doc["targets"]) {
    v1::Cause c = v1::CAUSE_UNKNOWN;
    ParseCauseWord(t["cause"].get<std::string>(), &c);
    t["href"] = "/target/" + PathEncode(t["name"].get<std::string>());
    t["class"] = CauseClass(c);
    for (json& p : t["probes"]) {
      v1::Outcome o = v1::OUTCOME_UNSPECIFIED;
      ParseOutcomeWord(p["outcome"].get<std::string>(), &o);
      p["class"] = OutcomeClass(o);
    }
  }
  json incidents_doc = cli::IncidentsJson(TerminalSafeCopy(incidents), now_ms)["incidents"];
  int i = 0;
  for (json& inc : incidents_doc) {
    inc["href"] = "/target/" + PathEncode(incidents.incidents(i).target());
    inc["class"] = CauseClass(incidents.incidents(i).cause());
    inc["duration"] = cli::HumanDuration(inc["duration_s"].get<int64_t>() * 1000);
    ++i;
  }
  return {{"now_unix_ms", now_ms},
          {"updated", UtcTime(now_ms)},
          {"status", status_doc},
          {"incidents", incidents_doc},
          {"health", health}};
}

std::string DumpCompact(const json& doc) {
  return doc.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

json TargetDocument(const v1::ExplainResponse& explain, int64_t now_ms) {
  json verdicts = json::array();
  for (const v1::Verdict& v : explain.verdicts()) {
    json doc = cli::VerdictJson(TerminalSafeCopy(v));
    doc["class"] = CauseClass(v.cause());
    for (size_t i = 0; i < doc["evidence"].size(); ++i) {
      doc["evidence"][i]["class"] = OutcomeClass(v.evidence(static_cast<int>(i)).outcome());
    }
    verdicts.push_back(doc);
  }
  return {{"now_unix_ms", now_ms}, {"updated", UtcTime(now_ms)}, {"verdicts", verdicts}};
}

}  // namespace parallax::collector::web
