// Rendering of the CLI's answers: the human table and the JSON documents
// scripts read. JSON field names are a contract (docs/CLI.md): status ->
// {"targets":[{"name","host","port","labels","probes":[{"probe","labels",
// "outcome","connect_ms","banner_ms","banner","age_s","address","detail",
// "connected"}]}],"probes":[{"name","labels","connected","version",
// "last_seen_age_s","clock_offset_s"}]}. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
// `parallax check`: one line per vantage point as its result arrives
// ("  p1  isp-a  ok  0.4ms  SSH-2.0-OpenSSH_9.2  (0.01 s)"), the closing
// lines after the verdict (probes that did not answer), and the whole run as
// one JSON document: {"id","host","port","timeout_ms","probes":[asked],
// "not_asked":[{"probe","reason"}],
// "results":[{"probe","labels","outcome","connect_ms","banner_ms","banner",
// "address","detail","elapsed_s","evidence"}],"verdict":<explain's JSON>,
// "unanswered":[...],"elapsed_s"}.
std::string CheckStartedText(const v1::CheckStarted& s);
std::string CheckResultLine(const v1::CheckProbeResult& r, bool color);
std::string CheckUnansweredText(const v1::CheckDone& d, double timeout_s);
nlohmann::json CheckJson(const v1::CheckStarted& started,
                         const std::vector<v1::CheckProbeResult>& results,
                         const v1::CheckDone* done);
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
