// The status page's HTML, rendered on the server from the same answers the
// query service gives the CLI (StatusResponse, ExplainResponse,
// IncidentsResponse), and the JSON document the page's script polls.
//
// Every string in those answers may come from a server (banners, details)
// or a probe (names, labels): each is first escaped as for a terminal
// (common/escape_proto.h: controls, C1, bidi and invalid UTF-8 become
// visible "\xNN" text) and then HTML-escaped (& < > " ' as entities), so a
// banner "<script>" renders as text. The script inserts text with
// textContent only (collector/web/assets.cc).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "parallax/v1/query.pb.h"

namespace parallax::collector::web {

// & < > " ' as entities; everything else as it is.
std::string HtmlEscape(std::string_view text);
// A target name as one URL path segment (percent-encoding all but
// [A-Za-z0-9._~-]); PathDecode inverts it (false on a bad escape).
std::string PathEncode(std::string_view text);
// A value quoted for an error message: printable ASCII (others become '?'),
// at most 100 characters then "...".
std::string QuoteForMessage(std::string_view s);
bool PathDecode(std::string_view text, std::string* out);

// The CSS classes that colour a cause or an outcome ("cause-ok",
// "outcome-timeout"; severity classes "good", "warn", "bad", "none").
std::string CauseClass(v1::Cause c);
std::string OutcomeClass(v1::Outcome o);

// The "check now" box on "/": shown when ad-hoc checks are served; with a
// refusal (this caller may not run checks) shown disabled, saying why.
struct CheckBox {
  bool shown = false;
  std::string refusal;
};

// "/": the "check now" box, the targets x vantage points matrix (with a
// "check" button per target when the box is usable), incidents, probes.
// `explain` is the every-target answer (its probe health is shown).
std::string IndexPage(const v1::StatusResponse& status, const v1::IncidentsResponse& incidents,
                      const v1::ExplainResponse& explain, int64_t now_ms, const CheckBox& box = {});
// "HOST:PORT" as the box takes it ("[V6]:PORT" for an IPv6 address).
std::string CheckTargetText(const std::string& host, uint32_t port);
// "/target/NAME": one target's explanation (verdict, evidence per vantage
// point, paths, remediation), as `parallax explain NAME` gives it.
std::string TargetPage(const v1::ExplainResponse& explain, int64_t now_ms);
// A short page for 404/403/... with `message` escaped.
std::string ErrorPage(int code, std::string_view title, std::string_view message);

// "/api/status": {"now_unix_ms", "status": <parallax status -o json>,
// "incidents": [<parallax incidents -o json>], "health": {probe: {"healthy",
// "reason"}}}; strings escaped as for a terminal.
nlohmann::json StatusDocument(const v1::StatusResponse& status,
                              const v1::IncidentsResponse& incidents,
                              const v1::ExplainResponse& explain, int64_t now_ms);
// "/api/target/NAME": {"now_unix_ms", "verdicts": [<parallax explain -o
// json>]}; strings escaped as for a terminal.
nlohmann::json TargetDocument(const v1::ExplainResponse& explain, int64_t now_ms);
// A document as the API sends it: compact, ASCII only (as the CLI's JSON).
std::string DumpCompact(const nlohmann::json& doc);

}  // namespace parallax::collector::web
