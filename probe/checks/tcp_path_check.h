// TcpPathCheck: where does the path to host:port end for TCP? (Paris-
// traceroute style: one fixed flow, so every probe takes the same path
// through per-flow load balancers.)
//
// Sends TCP SYNs to the endpoint with TTL (hop limit) 1, 2, ... max_hops,
// one at a time, always from the same source address and port (bound with
// SO_REUSEADDR; a connect that never completed leaves no TIME_WAIT). Each
// SYN's fate comes from the probe's shared ICMP receiver when there is one
// (icmp_receiver.h), else from its own socket (IP_RECVERR, no privilege):
//   ICMP time exceeded            -> a router at this hop (its address)
//   SYN-ACK or reset              -> the target answered: the path is complete
//   other ICMP (unreachable, prohibited) -> that sender ends the path
//   nothing within hop_wait       -> a silent hop ("*")
// It stops at the target, at a terminal ICMP error, after `max_silent`
// consecutive silent hops, at max_hops, or when the caller's deadline
// cancels it. A connection that completes is closed at once (no data sent).
//
// result(): the hops in TTL order and where it went silent.
// Thread-safety: see check.h (io_context thread only).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/checks/check.h"
#include "probe/checks/icmp_receiver.h"

namespace parallax::probe {

struct TcpPathOptions {
  boost::asio::ip::tcp::endpoint endpoint;
  uint32_t max_hops = 30;
  uint32_t max_silent = 3;
  std::chrono::milliseconds hop_wait{500};
  std::shared_ptr<IcmpReceiver> icmp_receiver;  // null: IP_RECVERR only
};

class TcpPathCheck : public Check, public std::enable_shared_from_this<TcpPathCheck> {
 public:
  static std::shared_ptr<TcpPathCheck> Create(boost::asio::io_context& io, TcpPathOptions options);
  void Start(Done done) override;
  void Cancel() override;
  const v1::TcpPath& result() const { return result_; }

 private:
  using Clock = std::chrono::steady_clock;
  TcpPathCheck(boost::asio::io_context& io, TcpPathOptions options);
  void Hop();
  void OnHop(uint32_t ttl, const boost::system::error_code& ec);
  void Complete();

  boost::asio::io_context& io_;
  TcpPathOptions options_;
  boost::asio::ip::tcp::socket socket_;
  ConnectIcmpWatch icmp_watch_;
  boost::asio::steady_timer timer_;
  uint32_t ttl_ = 0;
  uint32_t silent_run_ = 0;
  uint16_t source_port_ = 0;
  bool finished_ = false;
  Clock::time_point sent_;
  Done done_;
  v1::TcpPath result_;
};

}  // namespace parallax::probe
