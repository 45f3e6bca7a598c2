// Fuzz target: probe/checks/icmp_packet.h, with any packet an ICMP socket may
// deliver (raw IPv4 with its IP header, ping socket, ICMPv6).
//
// Input: byte 0 picks the socket kind (v6, IP header, id check), bytes 1-4
// the id and seq of our request, the rest is the packet.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "probe/checks/icmp_packet.h"

using parallax::probe::IcmpEchoMatch;
using parallax::probe::IcmpPacketVerdict;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  IcmpEchoMatch m;
  m.v6 = data[0] & 1;
  m.ip_header = !m.v6 && (data[0] & 2);
  m.check_id = data[0] & 4;
  m.id = static_cast<uint16_t>(data[1] << 8 | data[2]);
  m.seq = static_cast<uint16_t>(data[3] << 8 | data[4]);
  std::string_view packet(reinterpret_cast<const char*>(data + 5), size - 5);
  IcmpPacketVerdict v = parallax::probe::ParseIcmpPacket(packet, m);
  switch (v.kind) {
    case IcmpPacketVerdict::Kind::kIgnore:
    case IcmpPacketVerdict::Kind::kReply:
      FUZZ_CHECK(v.error.empty());
      break;
    case IcmpPacketVerdict::Kind::kError:
      FUZZ_CHECK(!v.error.empty() && v.error.size() < 64);
      // An error quotes at least an IP header and our echo header.
      FUZZ_CHECK(packet.size() >= 8 + 20 + 8);
      break;
  }
  return 0;
}
