// IcmpEchoCheck: does the target answer one ICMP echo request (ping)?
//
// With the probe's shared IcmpReceiver (icmp_receiver.h) open for the
// target's family, the request goes out on its raw socket and the check
// registers its (target, id, seq) there: no socket of its own, and the one
// receiver hands it the reply or an ICMP error quoting the request.
// Otherwise (no receiver, or no CAP_NET_RAW) it opens an unprivileged ping
// socket of its own (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), allowed when
// net.ipv4.ping_group_range includes our gid), else a raw ICMP socket of its
// own, sends one echo request and waits for the matching reply or an ICMP
// error about it. IPv4 and IPv6 (ICMPv6) targets are supported. The
// runner's deadline ends the wait (error "timeout").
//
// result(): attempted (a request was sent or its send failed), reply,
// rtt_us, error ("timeout", "host unreachable", "network unreachable",
// "administratively prohibited", "no permission" when neither socket type
// can be opened - then attempted is false, ...).
//
// Thread-safety: see check.h (io_context thread only).
#pragma once

#include <array>
#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/checks/check.h"
#include "probe/checks/icmp_receiver.h"

namespace parallax::probe {

enum class IcmpSocketKind {
  kAuto,    // ping socket, else raw socket
  kPing,    // unprivileged ping socket only
  kRaw,     // raw socket only
  kShared,  // result only: the shared receiver's raw socket
};

struct IcmpEchoResult {
  bool attempted = false;
  bool reply = false;
  uint32_t rtt_us = 0;
  std::string error;                            // empty on reply
  IcmpSocketKind used = IcmpSocketKind::kAuto;  // kPing, kRaw or kShared once sent
};

class IcmpEchoCheck : public Check, public std::enable_shared_from_this<IcmpEchoCheck> {
 public:
  static std::shared_ptr<IcmpEchoCheck> Create(boost::asio::io_context& io,
                                               boost::asio::ip::address target,
                                               IcmpSocketKind kind = IcmpSocketKind::kAuto,
                                               std::shared_ptr<IcmpReceiver> receiver = nullptr);

  void Start(Done done) override;
  void Cancel() override;

  // Valid once `done` has run.
  const IcmpEchoResult& result() const { return result_; }
  // Copies the result into the icmp_* fields of `liveness`.
  void FillLiveness(v1::Liveness* liveness) const;

 private:
  using Clock = std::chrono::steady_clock;
  IcmpEchoCheck(boost::asio::io_context& io, boost::asio::ip::address target, IcmpSocketKind kind,
                std::shared_ptr<IcmpReceiver> receiver);
  // Sends through the shared receiver; false if it has no socket for the family.
  bool StartShared();

  // Opens the socket; on failure sets result_.error and returns false.
  bool Open();
  void ReceiveMore();
  void OnReceive(const boost::system::error_code& ec, size_t n);
  // True if the packet ended the check (reply or an error about our request).
  bool HandlePacket(std::string_view packet);
  void Complete(bool reply, std::string error);

  boost::asio::io_context& io_;
  boost::asio::ip::address target_;
  IcmpSocketKind kind_;
  boost::asio::generic::raw_protocol::socket socket_;
  boost::asio::generic::raw_protocol::endpoint sender_;
  Done done_;
  bool finished_ = false;
  bool ping_socket_ = false;
  uint16_t id_ = 0;
  uint16_t seq_ = 0;
  Clock::time_point sent_at_;
  std::array<char, 1500> buffer_;
  IcmpEchoResult result_;
  std::shared_ptr<IcmpReceiver> receiver_;
  std::optional<IcmpFlowKey> flow_;  // registered with receiver_
};

}  // namespace parallax::probe
