// Small helpers shared by the checks: endpoint text, elapsed microseconds,
// IP literal parsing and a polite socket close.
// Pure functions (CloseGracefully acts on the socket it is given);
// thread-compatible.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

namespace parallax::probe {

// "192.0.2.1:22" or "[2001:db8::1]:22".
std::string EndpointText(const boost::asio::ip::tcp::endpoint& endpoint);

// Microseconds from `start` to `end`, clamped to [0, UINT32_MAX].
uint32_t ElapsedUs(std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point end);

// The address if `host` is an IPv4/IPv6 literal ("[::1]" accepted), else nullopt.
std::optional<boost::asio::ip::address> ParseIpLiteral(std::string_view host);

// Reads away what the peer already sent (so the kernel sends FIN rather than
// RST), shuts down both directions and closes. Never blocks; ignores errors.
void CloseGracefully(boost::asio::ip::tcp::socket& socket);

}  // namespace parallax::probe
