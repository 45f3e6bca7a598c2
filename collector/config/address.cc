#include "collector/config/address.h"

#include <arpa/inet.h>

#include <charconv>

namespace parallax::collector {
namespace {

bool IsIpv6(std::string_view text) {
  std::string s(text.substr(0, text.find('%')));  // drop a zone ("%eth0")
  in6_addr addr;
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

}  // namespace

std::string CheckName(std::string_view text) {
  if (text.empty()) return "is empty";
  if (text.size() > 128) return "is longer than 128 characters";
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return "has characters outside [A-Za-z0-9._:-]";
  }
  return "";
}

std::string CheckHost(std::string_view text) {
  if (text.empty()) return "is empty";
  if (text.find(':') != std::string_view::npos) {
    if (text.front() == '[') return "must be written without brackets (brackets are for host:port)";
    return IsIpv6(text) ? "" : "is not a valid IPv6 address";
  }
  if (text.size() > 253) return "is longer than 253 characters";
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) return "is not a host name or IP address";
  }
  if (text.front() == '.' || text.front() == '-') return "is not a host name or IP address";
  return "";
}

std::string CheckListenAddress(std::string_view text) {
  if (text.empty()) return "is empty (use host:port, e.g. 127.0.0.1:7420 or [::1]:7420)";
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return "has an unclosed '[' (use [::1]:7420)";
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return "is missing \":port\"";
    port = text.substr(close + 2);
    if (!IsIpv6(host)) return "has an invalid IPv6 address in brackets";
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return "is missing \":port\" (use host:port)";
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "has an IPv6 address without brackets (use [::1]:7420)";
    }
    if (host.empty()) return "has an empty host (use 0.0.0.0:port or [::]:port for all)";
    std::string why = CheckHost(host);
    if (!why.empty()) return "host " + why;
  }
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 0 ||
      value > 65535) {
    return "has an invalid port \"" + std::string(port) + "\" (0..65535)";
  }
  return "";
}

}  // namespace parallax::collector
