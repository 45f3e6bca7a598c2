#include "probe/transport/collector_list.h"

#include <algorithm>
#include <cstdlib>

namespace parallax::probe {
namespace {

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// Checks one HOST:PORT or [V6]:PORT; the reason when it is not one.
std::string CheckAddress(const std::string& a) {
  std::string host, port;
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string::npos) return "unclosed '[' (use [v6]:PORT)";
    host = a.substr(1, close - 1);
    if (close + 1 >= a.size() || a[close + 1] != ':') return "missing :PORT after ']'";
    port = a.substr(close + 2);
  } else {
    const size_t colon = a.rfind(':');
    if (colon == std::string::npos) return "missing :PORT (use HOST:PORT)";
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
    if (host.find(':') != std::string::npos) return "IPv6 addresses need brackets: [v6]:PORT";
  }
  if (host.empty()) return "empty host";
  if (host.find_first_of(" \t/") != std::string::npos) return "bad character in the host";
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "the port must be a number 1-65535";
  }
  const long p = std::strtol(port.c_str(), nullptr, 10);
  if (p < 1 || p > 65535) return "the port must be a number 1-65535";
  return "";
}

}  // namespace

Status CollectorList::Parse(const std::string& text, CollectorList* out) {
  CollectorList list;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string entry =
        Trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (entry.empty()) {
      return Status::InvalidArgument("--collector \"" + text +
                                     "\": empty address in the list (use HOST:PORT,HOST:PORT)");
    }
    const std::string why = CheckAddress(entry);
    if (!why.empty()) {
      return Status::InvalidArgument("--collector \"" + text + "\": \"" + entry + "\": " + why);
    }
    if (std::find(list.addresses_.begin(), list.addresses_.end(), entry) != list.addresses_.end()) {
      return Status::InvalidArgument("--collector \"" + text + "\": \"" + entry +
                                     "\" is listed twice");
    }
    list.addresses_.push_back(entry);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  *out = std::move(list);
  return Status::Ok();
}

std::string CollectorList::Joined() const {
  std::string out;
  for (const std::string& a : addresses_) out += (out.empty() ? "" : ",") + a;
  return out;
}

}  // namespace parallax::probe
