// IcmpReceiver: the probe's one ICMP receiver, shared by every check.
//
// Open() opens one raw ICMP socket (IPv4) and one raw ICMPv6 socket, each
// filtered to echo replies and errors, and reads them on the io_context.
// Every received packet is matched (icmp_match.h) against the flows checks
// registered: echo replies by sender, id and seq; ICMP errors by the flow
// they quote (addresses, protocol, ports). A matching packet runs that
// flow's callback with type, code and sender; anything else is counted
// (stats()) and dropped. One socket per family means each packet is read
// once, whatever the number of pings or connects in flight.
//
// Raw sockets need CAP_NET_RAW. When a family's socket cannot be opened,
// shared(v6) is false and the checks fall back per check: pings use an
// unprivileged ping socket each (IcmpEchoCheck), connects read ICMP errors
// from their own socket's error queue (IP_RECVERR, icmp_error.h). Open()
// logs once which mode is in use.
//
// Connect checks use ConnectIcmpWatch (below), which does both: it
// registers the connect's flow with the shared receiver when there is one,
// and keeps IP_RECVERR on the socket as the fallback.
//
// Thread-safety: io_context thread only. Held by shared_ptr; pending reads
// keep it alive; Close() (or the io_context's end) stops them.
#pragma once

#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/checks/icmp_match.h"

namespace parallax::probe {

class IcmpReceiver : public std::enable_shared_from_this<IcmpReceiver> {
 public:
  using Callback = IcmpFlowTable::Callback;

  struct Stats {
    IcmpMatchStats match;      // what the packets were
    uint64_t echo_sent = 0;    // echo requests sent through the shared socket
    uint64_t read_errors = 0;  // recvfrom failures other than "nothing more"
  };

  // Opens the sockets (either may fail: see shared()). `log` false keeps it
  // quiet (tests); otherwise the mode is logged once per process.
  static std::shared_ptr<IcmpReceiver> Open(boost::asio::io_context& io, bool log = true);
  ~IcmpReceiver();

  // True when the family's raw socket is open (IPv6 when `v6`).
  bool shared(bool v6) const;
  // "shared raw ICMP sockets (IPv4 and IPv6)", "per-check ping sockets and
  // IP_RECVERR (no CAP_NET_RAW: ...)", ...
  const std::string& mode() const { return mode_; }

  // Registers / unregisters a flow (see IcmpFlowTable). Register is false if
  // the flow is already registered.
  bool Register(const IcmpFlowKey& flow, Callback callback);
  void Unregister(const IcmpFlowKey& flow);

  // The echo id of this receiver's pings and a seq for a new ping to
  // `target` that no registered ping uses. Requires shared(target is v6).
  uint16_t echo_id() const { return echo_id_; }
  uint16_t NextEchoSeq(const boost::asio::ip::address& target);
  // Sends one echo request (id echo_id(), `seq`) to `target` on the shared
  // socket; 0 or the errno of the failed send.
  int SendEcho(const boost::asio::ip::address& target, uint16_t seq);

  // Reads, now, every packet already queued on the sockets (at most a few
  // thousand), so a check whose connect just failed sees the ICMP error the
  // kernel queued before it failed the connect.
  void Drain();

  // Closes the sockets; registered callbacks are dropped.
  void Close();

  const Stats& stats() const { return stats_; }
  size_t registered() const { return table_.size(); }

 private:
  struct Family {
    explicit Family(boost::asio::io_context& io) : socket(io) {}
    boost::asio::generic::raw_protocol::socket socket;
    bool v6 = false;
    bool waiting = false;
  };

  explicit IcmpReceiver(boost::asio::io_context& io);
  // Opens the family's socket; on failure returns the errno.
  int OpenFamily(Family& f, bool v6);
  void Wait(Family& f);
  // Reads up to `max` packets without blocking; false once the socket is empty.
  bool ReadSome(Family& f, int max);

  Family v4_;
  Family v6_;
  IcmpFlowTable table_;
  uint16_t echo_id_ = 0;
  uint16_t next_seq_ = 0;
  std::string mode_;
  Stats stats_;
};

// The ICMP evidence of one TCP connect: registers its flow with the shared
// receiver (when there is one for the family) and sets IP_RECVERR on the
// socket as the fallback. Io_context thread only.
class ConnectIcmpWatch {
 public:
  explicit ConnectIcmpWatch(std::shared_ptr<IcmpReceiver> receiver = nullptr)
      : receiver_(std::move(receiver)) {}
  ~ConnectIcmpWatch() { Stop(); }
  ConnectIcmpWatch(const ConnectIcmpWatch&) = delete;
  ConnectIcmpWatch& operator=(const ConnectIcmpWatch&) = delete;

  // Before connect: opens `socket` if needed and sets IP(V6)_RECVERR.
  void BeforeConnect(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp& protocol);
  // Right after async_connect was started (the kernel has picked the source
  // address and port): registers the flow with the receiver.
  void Started(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp::endpoint& remote);
  // After a failed connect: the error the shared receiver matched to the
  // flow, else the one on the socket's error queue, else nullopt.
  std::optional<v1::IcmpError> Take(boost::asio::ip::tcp::socket& socket,
                                    const boost::asio::ip::address& target);
  // Unregisters the flow (idempotent).
  void Stop();
  // The socket's local endpoint as Started() read it (it reads it to
  // register the flow), or nullopt: saves the connect's owner a
  // getsockname() of its own.
  const std::optional<boost::asio::ip::tcp::endpoint>& local() const { return local_; }

 private:
  std::shared_ptr<IcmpReceiver> receiver_;
  std::optional<boost::asio::ip::tcp::endpoint> local_;
  std::optional<IcmpFlowKey> flow_;
  std::shared_ptr<std::optional<IcmpEvent>> event_;
};

}  // namespace parallax::probe
