// Rendering of the CLI's answers: the human table and the JSON documents
// scripts read. JSON field names are a contract (docs/CLI.md): status ->
// {"targets":[{"name","host","port","labels","probes":[{"probe","labels",
// "outcome","connect_ms","banner_ms","banner","age_s","address","detail",
// "connected"}]}],"probes":[{"name","labels","connected","version",
// "last_seen_age_s","clock_offset_s"}]}. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "parallax/v1/query.pb.h"

namespace parallax::cli {

nlohmann::json StatusJson(const v1::StatusResponse& resp);
nlohmann::json HistoryJson(const v1::HistoryResponse& resp);
// explain: {"target","host","port","cause","confidence","summary","since",
// "since_unix_ms","evidence":[{"probe","labels","network","outcome",
// "connect_ms","age_s","role","alive_evidence","detail","clock_offset_s"}],
// "disagreeing","blocked_networks","remediation":[...]}; several targets ->
// {"verdicts":[...]}. clock_offset_s is null until measured.
nlohmann::json VerdictJson(const v1::Verdict& v);
nlohmann::json IncidentsJson(const v1::IncidentsResponse& resp, int64_t now_ms);

// Targets as rows, probes as columns; `color` adds ANSI colours by outcome.
std::string StatusTable(const v1::StatusResponse& resp, bool color);
std::string HistoryTable(const v1::HistoryResponse& resp, bool color);
// A verdict as a sysadmin reads it: cause, summary, evidence per vantage
// point, what to do.
std::string ExplainText(const v1::Verdict& v, int64_t now_ms, bool color);
// `parallax hostkey accept`: its message and the previous pins / as JSON.
std::string AcceptHostKeyText(const v1::AcceptHostKeyResponse& resp);
nlohmann::json AcceptHostKeyJson(const std::string& target, const v1::AcceptHostKeyResponse& resp);
std::string ProbeHealthText(const v1::ExplainResponse& resp);
std::string IncidentsTable(const v1::IncidentsResponse& resp, int64_t now_ms);
// The JSON text the CLI prints: ASCII only (every non-ASCII character,
// including C1 and bidi controls, as \uXXXX), so it is valid UTF-8 and inert
// in a terminal. Strings that were not valid UTF-8 carry their bad bytes as
// the text "\xNN".
std::string DumpJson(const nlohmann::json& doc);
// Probe clocks more than kClockOffsetShownS off the collector's are named in
// status and explain: "probe p1's clock is 600.0 s behind the collector's"
// ("" when within the bound). ClockOffsetsText: one such line per probe.
inline constexpr double kClockOffsetShownS = 2.0;
std::string ClockOffsetText(const std::string& probe, double offset_s);
std::string ClockOffsetsText(const v1::StatusResponse& resp);
// "3m12s", "2h5m", "4d1h"
std::string HumanDuration(int64_t ms);

}  // namespace parallax::cli
