// Fuzz target: probe/checks/icmp_packet.h (ping sockets) and
// probe/checks/icmp_match.h (the shared receiver's parser and flow table),
// with any packet an ICMP socket may deliver (raw IPv4 with its IP header,
// ping socket, ICMPv6).
//
// Input: byte 0 picks the socket kind (v6, IP header, id check), bytes 1-4
// the id and seq of our request, the rest is the packet.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "probe/checks/icmp_match.h"
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

  // The shared receiver: a flow registered for the ids the input names, as
  // TCP, UDP and echo; whatever matches must be an echo reply or an error
  // that quotes a whole IP header and 8 transport bytes.
  namespace ip = boost::asio::ip;
  using parallax::probe::IcmpFlowKey;
  using parallax::probe::IcmpFlowTable;
  ip::address sender = m.v6 ? ip::address(ip::make_address_v6("2001:db8::1"))
                            : ip::address(ip::make_address_v4("192.0.2.1"));
  parallax::probe::ParsedIcmp parsed =
      parallax::probe::ParseIcmp(packet, m.v6, m.ip_header, sender);
  IcmpFlowTable table;
  int calls = 0;
  auto count = [&calls](const parallax::probe::IcmpEvent&) { ++calls; };
  if (parsed.kind == parallax::probe::ParsedIcmp::Kind::kError ||
      parsed.kind == parallax::probe::ParsedIcmp::Kind::kEchoReply) {
    FUZZ_CHECK(packet.size() >= 8);
    if (parsed.kind == parallax::probe::ParsedIcmp::Kind::kError) {
      FUZZ_CHECK(packet.size() >= 8 + (m.v6 ? 40u : 20u) + 8);
    }
    table.Register(parsed.flow, count);  // the flow it names: must match
  }
  table.Register(IcmpFlowKey::Echo(sender, m.id, m.seq), count);
  IcmpFlowTable::Result r = table.Dispatch(packet, m.v6, m.ip_header, sender);
  FUZZ_CHECK((r == IcmpFlowTable::Result::kMatched) == (calls == 1));
  FUZZ_CHECK(calls <= 1);
  if (parsed.kind != parallax::probe::ParsedIcmp::Kind::kMalformed &&
      parsed.kind != parallax::probe::ParsedIcmp::Kind::kOther && parsed.flow_remote_known) {
    FUZZ_CHECK(r == IcmpFlowTable::Result::kMatched);
  }
  FUZZ_CHECK(table.stats().packets == 1);
  return 0;
}
