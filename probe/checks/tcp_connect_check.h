// TcpConnectCheck: does a TCP connect to one address:port succeed? Used as
// liveness evidence (a host that answers on any port is up, even if SSH is
// filtered). The connection is closed as soon as it is established.
//
// result() then holds port, outcome (ok / refused / timeout /
// host_unreachable / network_unreachable / reset) and connect_us;
// error_number() and detail() say why it failed.
//
// Thread-safety: see check.h (io_context thread only).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/checks/check.h"
#include "probe/checks/icmp_receiver.h"

namespace parallax::probe {

class TcpConnectCheck : public Check, public std::enable_shared_from_this<TcpConnectCheck> {
 public:
  static std::shared_ptr<TcpConnectCheck> Create(boost::asio::io_context& io,
                                                 boost::asio::ip::tcp::endpoint endpoint,
                                                 std::shared_ptr<IcmpReceiver> receiver = nullptr);

  void Start(Done done) override;
  void Cancel() override;

  // Valid once `done` has run.
  const v1::PortProbe& result() const { return result_; }
  int error_number() const { return error_number_; }
  const std::string& detail() const { return detail_; }

 private:
  TcpConnectCheck(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint,
                  std::shared_ptr<IcmpReceiver> receiver);
  void Complete(v1::Outcome outcome, int error_number, std::string detail);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::endpoint endpoint_;
  boost::asio::ip::tcp::socket socket_;
  ConnectIcmpWatch icmp_watch_;
  Done done_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  v1::PortProbe result_;
  int error_number_ = 0;
  std::string detail_;
};

}  // namespace parallax::probe
