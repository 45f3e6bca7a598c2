#include "probe/checks/icmp_match.h"

#include <cstring>

#include "probe/checks/icmp_packet.h"

namespace parallax::probe {
namespace {

namespace ip = boost::asio::ip;
using namespace icmp;

uint8_t At(std::string_view p, size_t i) { return static_cast<uint8_t>(p[i]); }

bool IsErrorType(bool v6, uint8_t type) {
  // v4: destination unreachable, source quench, time exceeded, parameter problem.
  // v6: destination unreachable, packet too big, time exceeded, parameter problem.
  return v6 ? (type >= 1 && type <= 4) : (type == 3 || type == 4 || type == 11 || type == 12);
}

std::array<uint8_t, 16> Bytes(const ip::address& a) {
  std::array<uint8_t, 16> out{};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(out.data(), b.data(), 4);
  } else if (a.is_v6()) {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) {
      auto b = ip::make_address_v4(ip::v4_mapped, v6).to_bytes();
      std::memcpy(out.data(), b.data(), 4);
    } else {
      auto b = v6.to_bytes();
      std::memcpy(out.data(), b.data(), 16);
    }
  }
  return out;
}

bool IsV6(const ip::address& a) { return a.is_v6() && !a.to_v6().is_v4_mapped(); }

std::array<uint8_t, 16> Copy(std::string_view p, size_t at, size_t n) {
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), p.data() + at, n);
  return out;
}

ip::address ToAddress(bool v6, const std::array<uint8_t, 16>& b) {
  if (v6) {
    ip::address_v6::bytes_type v;
    std::memcpy(v.data(), b.data(), 16);
    return ip::address_v6(v);
  }
  ip::address_v4::bytes_type v;
  std::memcpy(v.data(), b.data(), 4);
  return ip::address_v4(v);
}

}  // namespace

IcmpFlowKey IcmpFlowKey::Transport(uint8_t protocol, const ip::address& local, uint16_t local_port,
                                   const ip::address& remote, uint16_t remote_port) {
  IcmpFlowKey k;
  k.v6 = IsV6(remote);
  k.protocol = protocol;
  k.local = Bytes(local);
  k.remote = Bytes(remote);
  k.local_port = local_port;
  k.remote_port = remote_port;
  return k;
}

IcmpFlowKey IcmpFlowKey::Echo(const ip::address& remote, uint16_t id, uint16_t seq) {
  IcmpFlowKey k;
  k.v6 = IsV6(remote);
  k.protocol = k.v6 ? kProtoIcmpV6 : kProtoIcmp;
  k.remote = Bytes(remote);
  k.local_port = id;
  k.remote_port = seq;
  return k;
}

ParsedIcmp ParseIcmp(std::string_view p, bool v6, bool ip_header, const ip::address& sender) {
  ParsedIcmp r;
  ip::address from = sender;
  if (!v6 && ip_header) {
    if (p.size() < kIpv4MinHeader || (At(p, 0) >> 4) != 4) return r;
    size_t ihl = (At(p, 0) & 0x0F) * 4u;
    if (ihl < kIpv4MinHeader || p.size() < ihl || At(p, 9) != kProtoIcmp) return r;
    from = ToAddress(false, Copy(p, 12, 4));
    p.remove_prefix(ihl);
  }
  if (p.size() < kIcmpHeader) return r;
  r.type = At(p, 0);
  r.code = At(p, 1);
  if (r.type == (v6 ? kEchoReplyV6 : kEchoReplyV4)) {
    r.kind = ParsedIcmp::Kind::kEchoReply;
    r.flow = IcmpFlowKey::Echo(from, Get16(p, 4), Get16(p, 6));
    r.flow.v6 = v6;  // the socket's family decides, whatever `sender` looks like
    r.flow.protocol = v6 ? kProtoIcmpV6 : kProtoIcmp;
    r.flow_remote_known = !from.is_unspecified();
    return r;
  }
  if (!IsErrorType(v6, r.type)) {
    r.kind = ParsedIcmp::Kind::kOther;
    return r;
  }
  // The error quotes the packet we sent: its IP header, then at least the
  // first 8 bytes of its payload (ports, or the echo header).
  std::string_view inner = p.substr(kIcmpHeader);
  uint8_t protocol = 0;
  size_t header = 0;
  std::array<uint8_t, 16> src{}, dst{};
  if (v6) {
    if (inner.size() < kIpv6Header + 8 || (At(inner, 0) >> 4) != 6) return r;
    protocol = At(inner, 6);
    src = Copy(inner, 8, 16);
    dst = Copy(inner, 24, 16);
    header = kIpv6Header;
  } else {
    if (inner.size() < kIpv4MinHeader || (At(inner, 0) >> 4) != 4) return r;
    header = (At(inner, 0) & 0x0F) * 4u;
    if (header < kIpv4MinHeader || inner.size() < header + 8) return r;
    protocol = At(inner, 9);
    src = Copy(inner, 12, 4);
    dst = Copy(inner, 16, 4);
  }
  std::string_view quoted = inner.substr(header);
  IcmpFlowKey& k = r.flow;
  k.v6 = v6;
  k.protocol = protocol;
  if (protocol == kProtoTcp || protocol == kProtoUdp) {
    k.local = src;
    k.remote = dst;
    k.local_port = Get16(quoted, 0);
    k.remote_port = Get16(quoted, 2);
  } else if (protocol == (v6 ? kProtoIcmpV6 : kProtoIcmp) &&
             At(quoted, 0) == (v6 ? kEchoRequestV6 : kEchoRequestV4)) {
    k.remote = dst;  // local stays unspecified for echo flows
    k.local_port = Get16(quoted, 4);
    k.remote_port = Get16(quoted, 6);
  } else {
    r.kind = ParsedIcmp::Kind::kOther;  // a protocol we never send
    return r;
  }
  r.kind = ParsedIcmp::Kind::kError;
  r.flow_remote_known = true;
  return r;
}

bool IcmpFlowTable::Register(const IcmpFlowKey& flow, Callback callback) {
  return flows_.emplace(flow, std::move(callback)).second;
}

void IcmpFlowTable::Unregister(const IcmpFlowKey& flow) { flows_.erase(flow); }

IcmpFlowTable::Result IcmpFlowTable::Dispatch(std::string_view packet, bool v6, bool ip_header,
                                              const ip::address& sender) {
  ++stats_.packets;
  ParsedIcmp parsed = ParseIcmp(packet, v6, ip_header, sender);
  switch (parsed.kind) {
    case ParsedIcmp::Kind::kMalformed:
      ++stats_.malformed;
      return Result::kMalformed;
    case ParsedIcmp::Kind::kOther:
      ++stats_.other;
      return Result::kOther;
    case ParsedIcmp::Kind::kEchoReply:
    case ParsedIcmp::Kind::kError:
      break;
  }
  auto it = parsed.flow_remote_known ? flows_.find(parsed.flow) : flows_.end();
  if (it == flows_.end()) {
    ++stats_.unmatched;
    return Result::kUnmatched;
  }
  IcmpEvent event;
  event.kind = parsed.kind == ParsedIcmp::Kind::kEchoReply ? IcmpEvent::Kind::kEchoReply
                                                           : IcmpEvent::Kind::kError;
  event.family = v6 ? 6 : 4;
  event.type = parsed.type;
  event.code = parsed.code;
  event.sender = sender;
  if (!v6 && ip_header) event.sender = ToAddress(false, Copy(packet, 12, 4));
  ++stats_.matched;
  Callback callback = it->second;  // the callback may unregister itself
  callback(event);
  return Result::kMatched;
}

}  // namespace parallax::probe
