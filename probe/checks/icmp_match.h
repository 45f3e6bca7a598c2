// Pure matching of received ICMP / ICMPv6 packets to the probe's own flows,
// for the one shared ICMP receiver of a probe (icmp_receiver.h).
//
// A flow is what the probe sent: a TCP SYN or UDP datagram (protocol,
// local and remote address and port) or an ICMP echo request (remote
// address, id, seq). A packet matches a flow when it is
//   - an echo reply from the flow's remote address with its id and seq, or
//   - an ICMP error (destination unreachable, time exceeded, parameter
//     problem, packet too big) whose quoted IP header and first 8 transport
//     bytes name exactly that flow (addresses, protocol, ports or id/seq).
// Everything else - other hosts' traffic, errors quoting someone else's
// flow (spoofed or not), replies from the wrong sender, truncated or
// malformed packets - matches nothing and is only counted.
//
// ParseIcmp() looks at one packet; IcmpFlowTable keeps the registered flows
// and dispatches packets to their callbacks. Packets are untrusted input of
// any length and content: every read is bounds-checked.
//
// Thread-safety: ParseIcmp is pure and thread-safe. IcmpFlowTable is
// thread-compatible (the receiver uses it on its io_context thread only).
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

namespace parallax::probe {

// Protocol numbers a flow can have (IANA).
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpV6 = 58;

// What the probe sent. For ICMP echo flows `local` is left unspecified
// (all zero: a ping socket or raw socket does not say which source address
// the kernel picked), local_port is the echo id and remote_port its seq.
struct IcmpFlowKey {
  bool v6 = false;
  uint8_t protocol = 0;              // kProtoTcp, kProtoUdp, kProtoIcmp / kProtoIcmpV6 (echo)
  std::array<uint8_t, 16> local{};   // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> remote{};  // IPv4 in the first 4 bytes
  uint16_t local_port = 0;
  uint16_t remote_port = 0;

  auto operator<=>(const IcmpFlowKey&) const = default;

  // A TCP or UDP flow. IPv4-mapped IPv6 addresses count as IPv4.
  static IcmpFlowKey Transport(uint8_t protocol, const boost::asio::ip::address& local,
                               uint16_t local_port, const boost::asio::ip::address& remote,
                               uint16_t remote_port);
  // An ICMP (v4) or ICMPv6 (v6 target) echo request.
  static IcmpFlowKey Echo(const boost::asio::ip::address& remote, uint16_t id, uint16_t seq);
};

// What a matched packet says about the flow.
struct IcmpEvent {
  enum class Kind { kEchoReply, kError };
  Kind kind = Kind::kError;
  int family = 4;  // 4: ICMP, 6: ICMPv6
  uint8_t type = 0;
  uint8_t code = 0;
  boost::asio::ip::address sender;  // who sent the ICMP packet
};

// One packet, parsed.
struct ParsedIcmp {
  enum class Kind {
    kMalformed,  // too short, bad header lengths, not the family's ICMP
    kOther,      // well-formed but neither an echo reply nor an error (or a
                 // quoted packet of a protocol we never send)
    kEchoReply,
    kError,
  };
  Kind kind = Kind::kMalformed;
  uint8_t type = 0;
  uint8_t code = 0;
  IcmpFlowKey flow;  // kEchoReply / kError: the flow the packet is about
  // kEchoReply: the flow's remote is the packet's sender, which the caller
  // fills in (ParseIcmp sets it from the IPv4 header when there is one).
  bool flow_remote_known = false;
};

// Parses `packet` as a raw socket of the family delivers it: IPv4 raw
// sockets include the IP header (`ip_header` true), ICMPv6 raw sockets do
// not. `sender` is the packet's source as the socket reported it; for echo
// replies it becomes the flow's remote address.
ParsedIcmp ParseIcmp(std::string_view packet, bool v6, bool ip_header,
                     const boost::asio::ip::address& sender);

struct IcmpMatchStats {
  uint64_t packets = 0;    // given to Dispatch
  uint64_t matched = 0;    // handed to a registered flow
  uint64_t unmatched = 0;  // well-formed reply/error about a flow not registered (incl. spoofed)
  uint64_t other = 0;      // other ICMP types (echo requests, router adverts, ...)
  uint64_t malformed = 0;  // truncated or malformed
};

class IcmpFlowTable {
 public:
  using Callback = std::function<void(const IcmpEvent& event)>;
  enum class Result { kMatched, kUnmatched, kOther, kMalformed };

  // Registers `flow`; false (and nothing changes) if it is already registered.
  bool Register(const IcmpFlowKey& flow, Callback callback);
  // Forgets `flow` (no-op if not registered).
  void Unregister(const IcmpFlowKey& flow);
  bool Contains(const IcmpFlowKey& flow) const { return flows_.count(flow) != 0; }
  size_t size() const { return flows_.size(); }

  // Parses one packet and runs the matching flow's callback, if any. The
  // callback may Register/Unregister (itself included).
  Result Dispatch(std::string_view packet, bool v6, bool ip_header,
                  const boost::asio::ip::address& sender);

  const IcmpMatchStats& stats() const { return stats_; }

 private:
  std::map<IcmpFlowKey, Callback> flows_;
  IcmpMatchStats stats_;
};

}  // namespace parallax::probe
