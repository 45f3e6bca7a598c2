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
