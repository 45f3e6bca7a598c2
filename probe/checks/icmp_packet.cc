#include "probe/checks/icmp_packet.h"

namespace parallax::probe {

uint16_t icmp::InternetChecksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len % 2 == 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

namespace {

using namespace icmp;

std::string ErrorTextV4(uint8_t type, uint8_t code) {
  if (type == kTimeExceededV4) return "time exceeded";
  switch (code) {
    case 0:
      return "network unreachable";
    case 1:
      return "host unreachable";
    case 3:
      return "port unreachable";
    case 9:
    case 10:
    case 13:
      return "administratively prohibited";
    default:
      return "destination unreachable (code " + std::to_string(code) + ")";
  }
}

std::string ErrorTextV6(uint8_t type, uint8_t code) {
  if (type == kTimeExceededV6) return "time exceeded";
  switch (code) {
    case 0:
      return "network unreachable";
    case 1:
      return "administratively prohibited";
    case 3:
      return "host unreachable";
    case 4:
      return "port unreachable";
    default:
      return "destination unreachable (code " + std::to_string(code) + ")";
  }
}

}  // namespace

IcmpPacketVerdict ParseIcmpPacket(std::string_view p, const IcmpEchoMatch& m) {
  IcmpPacketVerdict v;
  bool v6 = m.v6;
  if (!v6 && m.ip_header) {
    if (p.empty()) return v;
    size_t ihl = (static_cast<uint8_t>(p[0]) & 0x0F) * 4u;
    if (ihl < 20 || p.size() < ihl) return v;
    p.remove_prefix(ihl);
  }
  if (p.size() < kIcmpHeader) return v;
  uint8_t type = static_cast<uint8_t>(p[0]);
  uint8_t code = static_cast<uint8_t>(p[1]);
  if (type == (v6 ? kEchoReplyV6 : kEchoReplyV4)) {
    if (Get16(p, 6) != m.seq) return v;
    if (m.check_id && Get16(p, 4) != m.id) return v;
    v.kind = IcmpPacketVerdict::Kind::kReply;
    return v;
  }
  bool error = v6 ? (type == kUnreachableV6 || type == kTimeExceededV6)
                  : (type == kUnreachableV4 || type == kTimeExceededV4);
  if (!error) return v;
  // The error quotes our request: its IP header, then the echo request header.
  std::string_view inner = p.substr(kIcmpHeader);
  size_t inner_ip = kIpv6Header;
  if (!v6) {
    if (inner.empty()) return v;
    inner_ip = (static_cast<uint8_t>(inner[0]) & 0x0F) * 4u;
    if (inner_ip < 20) return v;
  }
  if (inner.size() < inner_ip + kIcmpHeader) return v;
  std::string_view request = inner.substr(inner_ip);
  if (static_cast<uint8_t>(request[0]) != (v6 ? kEchoRequestV6 : kEchoRequestV4) ||
      Get16(request, 6) != m.seq || (m.check_id && Get16(request, 4) != m.id)) {
    return v;
  }
  v.kind = IcmpPacketVerdict::Kind::kError;
  v.error = v6 ? ErrorTextV6(type, code) : ErrorTextV4(type, code);
  return v;
}

std::string EchoErrorText(bool v6, uint8_t type, uint8_t code) {
  if (!v6) {
    if (type == kTimeExceededV4) return "time exceeded";
    if (type != kUnreachableV4) return "ICMP type " + std::to_string(type);
  } else {
    if (type == kTimeExceededV6) return "time exceeded";
    if (type != kUnreachableV6) return "ICMPv6 type " + std::to_string(type);
  }
  return v6 ? ErrorTextV6(type, code) : ErrorTextV4(type, code);
}

}  // namespace parallax::probe
