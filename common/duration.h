// Parsing and printing of durations as written in config files and flags:
// a sequence of <number><unit> with units ms, s, m, h, d ("10s", "500ms",
// "1m30s", "14d"). Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace parallax {

// Parses `text` into `out`. Rejects empty input, a missing or unknown unit,
// negative values and overflow, with a message that quotes the text.
Status ParseDuration(std::string_view text, std::chrono::milliseconds* out);

// The shortest exact spelling: 1500ms -> "1500ms", 90000ms -> "1m30s".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace parallax
