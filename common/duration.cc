#include "common/duration.h"

#include <cstdint>
#include <limits>

namespace parallax {

Status ParseDuration(std::string_view text, std::chrono::milliseconds* out) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("invalid duration \"" + std::string(text) + "\": " + why +
                                   " (use e.g. 500ms, 10s, 5m, 1h, 14d)");
  };
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return bad("expected a number");
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > (std::numeric_limits<int64_t>::max() / 10) - 10) return bad("too large");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t mult = 0;
    if (unit == "ms") mult = 1;
    else if (unit == "s") mult = 1000;
    else if (unit == "m") mult = 60'000;
    else if (unit == "h") mult = 3'600'000;
    else if (unit == "d") mult = 86'400'000;
    else if (unit.empty()) return bad("missing unit");
    else return bad("unknown unit");
    if (n > std::numeric_limits<int64_t>::max() / mult / 2) return bad("too large");
    total += n * mult;
    if (total > std::numeric_limits<int64_t>::max() / 2) return bad("too large");
  }
  *out = std::chrono::milliseconds(total);
  return Status::Ok();
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  std::string out;
  struct Unit { int64_t secs; const char* name; };
  for (Unit u : {Unit{86400, "d"}, Unit{3600, "h"}, Unit{60, "m"}, Unit{1, "s"}}) {
    if (s >= u.secs) {
      out += std::to_string(s / u.secs) + u.name;
      s %= u.secs;
    }
  }
  return out;
}

}  // namespace parallax
