// Syntax checks for names, hosts and listen addresses in the config.
// Each returns an empty string if `text` is valid, else the reason (without
// the field path, which the caller adds). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace parallax::collector {

// 1..128 characters from [A-Za-z0-9._:-].
std::string CheckName(std::string_view text);
// A DNS name (letters, digits, '.', '-', '_'; at most 253 chars), an IPv4
// address, or an IPv6 address without brackets ("2001:db8::1", "fe80::1%eth0").
std::string CheckHost(std::string_view text);
// "host:port" with host as in CheckHost (IPv6 in brackets: "[::1]:7420") and
// port 0..65535 (0: any free port).
std::string CheckListenAddress(std::string_view text);

}  // namespace parallax::collector
