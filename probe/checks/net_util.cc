#include "probe/checks/net_util.h"

#include <sys/socket.h>

#include <array>
#include <limits>

namespace parallax::probe {

std::string EndpointText(const boost::asio::ip::tcp::endpoint& endpoint) {
  const auto& a = endpoint.address();
  std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

uint32_t ElapsedUs(std::chrono::steady_clock::time_point start,
                   std::chrono::steady_clock::time_point end) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - start).count();
  if (us < 0) return 0;
  if (us > std::numeric_limits<uint32_t>::max()) return std::numeric_limits<uint32_t>::max();
  return static_cast<uint32_t>(us);
}

std::optional<boost::asio::ip::address> ParseIpLiteral(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return address;
}

void CloseGracefully(boost::asio::ip::tcp::socket& socket) {
  if (!socket.is_open()) return;
  // recv(MSG_DONTWAIT) on the descriptor: never blocks, and spares the
  // ioctl(FIONBIO) that switching Asio's socket to non-blocking costs.
  std::array<char, 4096> sink;
  for (int i = 0; i < 16; ++i) {  // bounded: at most 64 KiB read away
    ssize_t n = ::recv(socket.native_handle(), sink.data(), sink.size(), MSG_DONTWAIT);
    if (n <= 0) break;
  }
  boost::system::error_code ec;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace parallax::probe
