// Rendering of the CLI's answers: the human table and the JSON documents
// scripts read. JSON field names are a contract (docs/CLI.md): status ->
// {"targets":[{"name","host","port","labels","probes":[{"probe","labels",
// "outcome","connect_ms","banner_ms","banner","age_s","address","detail",
// "connected"}]}],"probes":[...]}. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "parallax/v1/query.pb.h"

namespace parallax::cli {

nlohmann::json StatusJson(const v1::StatusResponse& resp);
nlohmann::json HistoryJson(const v1::HistoryResponse& resp);
// explain: {"target","host","port","cause","confidence","summary","since",
// "evidence":[{"probe","labels","network","outcome","connect_ms","role","detail"}],
// "remediation":[...]}; several targets -> {"verdicts":[...]}.
nlohmann::json VerdictJson(const v1::Verdict& v);
nlohmann::json IncidentsJson(const v1::IncidentsResponse& resp, int64_t now_ms);

// Targets as rows, probes as columns; `color` adds ANSI colours by outcome.
std::string StatusTable(const v1::StatusResponse& resp, bool color);
std::string HistoryTable(const v1::HistoryResponse& resp, bool color);
// A verdict as a sysadmin reads it: cause, summary, evidence per vantage
// point, what to do.
std::string ExplainText(const v1::Verdict& v, int64_t now_ms, bool color);
std::string ProbeHealthText(const v1::ExplainResponse& resp);
std::string IncidentsTable(const v1::IncidentsResponse& resp, int64_t now_ms);
// The JSON text the CLI prints: ASCII only (every non-ASCII character,
// including C1 and bidi controls, as \uXXXX), so it is valid UTF-8 and inert
// in a terminal. Strings that were not valid UTF-8 carry their bad bytes as
// the text "\xNN".
std::string DumpJson(const nlohmann::json& doc);
// "3m12s", "2h5m", "4d1h"
std::string HumanDuration(int64_t ms);

}  // namespace parallax::cli
