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

// Targets as rows, probes as columns; `color` adds ANSI colours by outcome.
std::string StatusTable(const v1::StatusResponse& resp, bool color);
std::string HistoryTable(const v1::HistoryResponse& resp, bool color);

}  // namespace parallax::cli
