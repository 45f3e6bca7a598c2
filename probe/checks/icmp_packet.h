// ParseIcmpPacket: what one received ICMP / ICMPv6 packet says about the echo
// request an IcmpEchoCheck sent — its reply, an error about it (destination
// unreachable, time exceeded, quoting our request), or nothing (someone
// else's traffic, truncated or malformed: ignored, never an error).
//
// The packet is untrusted network input of any length and content. The
// sender's address is not looked at here (the caller compares it for raw
// sockets). Pure, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parallax::probe {

// ICMP / ICMPv6 wire numbers and helpers shared by the sender
// (icmp_echo_check.cc, icmp_receiver.cc) and the parsers (icmp_packet.cc,
// icmp_match.cc).
namespace icmp {
inline constexpr uint8_t kEchoRequestV4 = 8, kEchoReplyV4 = 0, kUnreachableV4 = 3,
                         kTimeExceededV4 = 11;
inline constexpr uint8_t kEchoRequestV6 = 128, kEchoReplyV6 = 129, kUnreachableV6 = 1,
                         kTimeExceededV6 = 3;
inline constexpr size_t kIcmpHeader = 8;
inline constexpr size_t kIpv4MinHeader = 20;
inline constexpr size_t kIpv6Header = 40;
// The payload of every echo request the probe sends (without the NUL).
inline constexpr char kEchoPayload[] = "parallax";
// The RFC 1071 checksum of `len` bytes.
uint16_t InternetChecksum(const uint8_t* data, size_t len);
// The big-endian 16-bit value at p[at] (the caller checked the length).
inline uint16_t Get16(std::string_view p, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[at]) << 8) |
                               static_cast<uint8_t>(p[at + 1]));
}
}  // namespace icmp

struct IcmpEchoMatch {
  bool v6 = false;
  bool ip_header = false;  // raw IPv4 sockets deliver the IP header first
  bool check_id = true;    // ping sockets rewrite the id: match on seq only
  uint16_t id = 0;
  uint16_t seq = 0;
};

struct IcmpPacketVerdict {
  enum class Kind { kIgnore, kReply, kError };
  Kind kind = Kind::kIgnore;
  std::string error;  // kError: "host unreachable", "time exceeded", ...
};

// The words for an ICMP (v6 false) / ICMPv6 error about an echo request:
// "host unreachable", "port unreachable", "administratively prohibited",
// "time exceeded", ...
std::string EchoErrorText(bool v6, uint8_t type, uint8_t code);

IcmpPacketVerdict ParseIcmpPacket(std::string_view packet, const IcmpEchoMatch& match);

}  // namespace parallax::probe
