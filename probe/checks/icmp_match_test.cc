#include "probe/checks/icmp_match.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parallax::probe {
namespace {

using boost::asio::ip::address;
using boost::asio::ip::make_address;

void Put16(std::string& s, size_t at, uint16_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v);
}

void PutAddress(std::string& s, size_t at, const address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    s.replace(at, 4, reinterpret_cast<const char*>(b.data()), 4);
  } else {
    auto b = a.to_v6().to_bytes();
    s.replace(at, 16, reinterpret_cast<const char*>(b.data()), 16);
  }
}

// An IPv4 header (20 bytes) from `src` to `dst` carrying `protocol`.
std::string Ipv4Header(uint8_t protocol, const address& src, const address& dst) {
  std::string h(20, '\0');
  h[0] = 0x45;
  h[8] = 64;
  h[9] = static_cast<char>(protocol);
  PutAddress(h, 12, src);
  PutAddress(h, 16, dst);
  return h;
}

std::string Ipv6Header(uint8_t next, const address& src, const address& dst) {
  std::string h(40, '\0');
  h[0] = 0x60;
  h[6] = static_cast<char>(next);
  h[7] = 64;
  PutAddress(h, 8, src);
  PutAddress(h, 24, dst);
  return h;
}

std::string Icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0) {
  std::string h(8, '\0');
  h[0] = static_cast<char>(type);
  h[1] = static_cast<char>(code);
  Put16(h, 4, id);
  Put16(h, 6, seq);
  return h;
}

// The first 8 bytes of a TCP/UDP header.
std::string Ports(uint16_t sport, uint16_t dport) {
  std::string h(8, '\0');
  Put16(h, 0, sport);
  Put16(h, 2, dport);
  return h;
}

const address kProbe = make_address("192.0.2.10");
const address kTarget = make_address("198.51.100.7");
const address kRouter = make_address("203.0.113.1");
const address kProbe6 = make_address("2001:db8::10");
const address kTarget6 = make_address("2001:db8:1::7");
const address kRouter6 = make_address("2001:db8:ff::1");

// What a raw IPv4 ICMP socket delivers: an error from `from` quoting a SYN
// from kProbe:sport to kTarget:dport.
std::string TcpErrorV4(const address& from, uint8_t type, uint8_t code, uint16_t sport,
                       uint16_t dport, const address& quoted_src = kProbe) {
  return Ipv4Header(kProtoIcmp, from, kProbe) + Icmp(type, code) +
         Ipv4Header(kProtoTcp, quoted_src, kTarget) + Ports(sport, dport);
}

struct Recorder {
  std::vector<IcmpEvent> events;
  IcmpFlowTable::Callback Callback() {
    return [this](const IcmpEvent& e) { events.push_back(e); };
  }
};

TEST(IcmpMatchTest, TcpErrorFromTheTargetMatchesItsFlow) {
  IcmpFlowTable table;
  Recorder r;
  ASSERT_TRUE(
      table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback()));
  std::string p = TcpErrorV4(kTarget, 3, 3, 40000, 22);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kMatched);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, IcmpEvent::Kind::kError);
  EXPECT_EQ(r.events[0].family, 4);
  EXPECT_EQ(r.events[0].type, 3);
  EXPECT_EQ(r.events[0].code, 3);
  EXPECT_EQ(r.events[0].sender, kTarget);
  EXPECT_EQ(table.stats().matched, 1u);
}

TEST(IcmpMatchTest, ErrorFromARouterRecordsTheRouterAsSender) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback());
  // Admin-prohibited (code 13) from a router on the path; the socket's own
  // notion of the sender is ignored in favour of the IPv4 header's source.
  std::string p = TcpErrorV4(kRouter, 3, 13, 40000, 22);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kMatched);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].code, 13);
  EXPECT_EQ(r.events[0].sender, kRouter);
}

TEST(IcmpMatchTest, SpoofedErrorsThatDoNotQuoteOurFlowAreIgnoredAndCounted) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback());
  const std::string spoofed[] = {
      TcpErrorV4(kTarget, 3, 3, 40001, 22),                 // wrong source port
      TcpErrorV4(kTarget, 3, 3, 40000, 23),                 // wrong destination port
      TcpErrorV4(kTarget, 3, 3, 40000, 22, kRouter),        // someone else's flow
      Ipv4Header(kProtoIcmp, kTarget, kProbe) + Icmp(3, 3)  // quotes UDP, not TCP
          + Ipv4Header(kProtoUdp, kProbe, kTarget) + Ports(40000, 22),
  };
  for (const std::string& p : spoofed) {
    EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kUnmatched);
  }
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(table.stats().unmatched, 4u);
  EXPECT_EQ(table.stats().matched, 0u);
}

TEST(IcmpMatchTest, TimeExceededAndOtherErrorTypesMatch) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback());
  for (uint8_t type : {3, 4, 11, 12}) {
    EXPECT_EQ(table.Dispatch(TcpErrorV4(kRouter, type, 0, 40000, 22), false, true, kRouter),
              IcmpFlowTable::Result::kMatched)
        << int{type};
  }
  EXPECT_EQ(r.events.size(), 4u);
  // Redirects (5) and echo requests (8) are not errors about our flow.
  EXPECT_EQ(table.Dispatch(TcpErrorV4(kRouter, 5, 0, 40000, 22), false, true, kRouter),
            IcmpFlowTable::Result::kOther);
}

TEST(IcmpMatchTest, UdpErrorMatchesUdpFlow) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoUdp, kProbe, 5353, kTarget, 33434), r.Callback());
  std::string p = Ipv4Header(kProtoIcmp, kTarget, kProbe) + Icmp(3, 3) +
                  Ipv4Header(kProtoUdp, kProbe, kTarget) + Ports(5353, 33434);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kMatched);
  EXPECT_EQ(r.events.size(), 1u);
}

TEST(IcmpMatchTest, QuotedIpOptionsAreSkipped) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback());
  std::string inner = Ipv4Header(kProtoTcp, kProbe, kTarget);
  inner[0] = 0x46;                  // IHL 6: 4 bytes of options
  inner += std::string(4, '\x01');  // NOPs
  std::string p = Ipv4Header(kProtoIcmp, kTarget, kProbe) + Icmp(3, 10) + inner + Ports(40000, 22);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kMatched);
}

TEST(IcmpMatchTest, EchoReplyMatchesIdSeqAndSender) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Echo(kTarget, 0x1234, 7), r.Callback());
  auto reply = [](const address& from, uint16_t id, uint16_t seq) {
    return Ipv4Header(kProtoIcmp, from, kProbe) + Icmp(0, 0, id, seq) + "parallax";
  };
  EXPECT_EQ(table.Dispatch(reply(kTarget, 0x1235, 7), false, true, kTarget),
            IcmpFlowTable::Result::kUnmatched);  // wrong id
  EXPECT_EQ(table.Dispatch(reply(kTarget, 0x1234, 8), false, true, kTarget),
            IcmpFlowTable::Result::kUnmatched);  // wrong seq
  EXPECT_EQ(table.Dispatch(reply(kRouter, 0x1234, 7), false, true, kRouter),
            IcmpFlowTable::Result::kUnmatched);  // a spoofed reply from another host
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(table.Dispatch(reply(kTarget, 0x1234, 7), false, true, kTarget),
            IcmpFlowTable::Result::kMatched);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, IcmpEvent::Kind::kEchoReply);
  EXPECT_EQ(r.events[0].sender, kTarget);
}

TEST(IcmpMatchTest, ErrorQuotingOurEchoRequestMatchesTheEchoFlow) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Echo(kTarget, 0x1234, 7), r.Callback());
  std::string p = Ipv4Header(kProtoIcmp, kRouter, kProbe) + Icmp(3, 1) +
                  Ipv4Header(kProtoIcmp, kProbe, kTarget) + Icmp(8, 0, 0x1234, 7);
  EXPECT_EQ(table.Dispatch(p, false, true, kRouter), IcmpFlowTable::Result::kMatched);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, IcmpEvent::Kind::kError);
  EXPECT_EQ(r.events[0].code, 1);
  EXPECT_EQ(r.events[0].sender, kRouter);
  // The same error quoting an echo *reply* (not something we send) is other.
  std::string q = Ipv4Header(kProtoIcmp, kRouter, kProbe) + Icmp(3, 1) +
                  Ipv4Header(kProtoIcmp, kProbe, kTarget) + Icmp(0, 0, 0x1234, 7);
  EXPECT_EQ(table.Dispatch(q, false, true, kRouter), IcmpFlowTable::Result::kOther);
}

TEST(IcmpMatchTest, Ipv6ErrorsAndReplies) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe6, 40000, kTarget6, 22), r.Callback());
  table.Register(IcmpFlowKey::Echo(kTarget6, 9, 10), r.Callback());
  // ICMPv6 raw sockets deliver no IP header; the sender comes from recvfrom.
  std::string err = Icmp(1, 1) + Ipv6Header(kProtoTcp, kProbe6, kTarget6) + Ports(40000, 22);
  EXPECT_EQ(table.Dispatch(err, true, false, kRouter6), IcmpFlowTable::Result::kMatched);
  std::string wrong = Icmp(1, 4) + Ipv6Header(kProtoTcp, kProbe6, kTarget6) + Ports(40000, 2222);
  EXPECT_EQ(table.Dispatch(wrong, true, false, kTarget6), IcmpFlowTable::Result::kUnmatched);
  EXPECT_EQ(table.Dispatch(Icmp(129, 0, 9, 10), true, false, kTarget6),
            IcmpFlowTable::Result::kMatched);
  EXPECT_EQ(table.Dispatch(Icmp(129, 0, 9, 10), true, false, kRouter6),
            IcmpFlowTable::Result::kUnmatched);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].family, 6);
  EXPECT_EQ(r.events[0].sender, kRouter6);
  EXPECT_EQ(r.events[1].kind, IcmpEvent::Kind::kEchoReply);
  // Neighbour solicitations and the like are other traffic.
  EXPECT_EQ(table.Dispatch(Icmp(135, 0), true, false, kRouter6), IcmpFlowTable::Result::kOther);
}

TEST(IcmpMatchTest, TruncatedPacketsNeverMatch) {
  IcmpFlowTable table;
  Recorder r;
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22), r.Callback());
  table.Register(IcmpFlowKey::Transport(kProtoTcp, kProbe6, 40000, kTarget6, 22), r.Callback());
  std::string v4 = TcpErrorV4(kTarget, 3, 3, 40000, 22);
  for (size_t n = 0; n < v4.size(); ++n) {
    auto res = table.Dispatch(std::string_view(v4).substr(0, n), false, true, kTarget);
    EXPECT_EQ(res, IcmpFlowTable::Result::kMalformed) << n;
  }
  std::string v6 = Icmp(1, 4) + Ipv6Header(kProtoTcp, kProbe6, kTarget6) + Ports(40000, 22);
  for (size_t n = 0; n < v6.size(); ++n) {
    auto res = table.Dispatch(std::string_view(v6).substr(0, n), true, false, kTarget6);
    EXPECT_EQ(res, IcmpFlowTable::Result::kMalformed) << n;
  }
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(table.Dispatch(v4, false, true, kTarget), IcmpFlowTable::Result::kMatched);
}

TEST(IcmpMatchTest, BadHeaderLengthsAreMalformed) {
  IcmpFlowTable table;
  std::string p = TcpErrorV4(kTarget, 3, 3, 40000, 22);
  std::string outer_ihl = p;
  outer_ihl[0] = 0x44;  // IHL 16 bytes
  EXPECT_EQ(table.Dispatch(outer_ihl, false, true, kTarget), IcmpFlowTable::Result::kMalformed);
  std::string huge_ihl = p;
  huge_ihl[0] = 0x4F;  // IHL 60 > what follows the outer header
  huge_ihl.resize(40);
  EXPECT_EQ(table.Dispatch(huge_ihl, false, true, kTarget), IcmpFlowTable::Result::kMalformed);
  std::string inner_ihl = p;
  inner_ihl[28] = 0x4F;  // quoted IHL 60: the ports would lie beyond the packet
  EXPECT_EQ(table.Dispatch(inner_ihl, false, true, kTarget), IcmpFlowTable::Result::kMalformed);
  std::string version = p;
  version[0] = 0x65;
  EXPECT_EQ(table.Dispatch(version, false, true, kTarget), IcmpFlowTable::Result::kMalformed);
  std::string not_icmp = p;
  not_icmp[9] = kProtoTcp;
  EXPECT_EQ(table.Dispatch(not_icmp, false, true, kTarget), IcmpFlowTable::Result::kMalformed);
  EXPECT_EQ(table.stats().malformed, 5u);
}

TEST(IcmpMatchTest, RegisterUnregisterAndSelfRemovingCallbacks) {
  IcmpFlowTable table;
  IcmpFlowKey k = IcmpFlowKey::Transport(kProtoTcp, kProbe, 40000, kTarget, 22);
  int calls = 0;
  ASSERT_TRUE(table.Register(k, [&](const IcmpEvent&) {
    ++calls;
    table.Unregister(k);
  }));
  EXPECT_FALSE(table.Register(k, [](const IcmpEvent&) {}));
  std::string p = TcpErrorV4(kTarget, 3, 3, 40000, 22);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kMatched);
  EXPECT_EQ(table.Dispatch(p, false, true, kTarget), IcmpFlowTable::Result::kUnmatched);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(table.size(), 0u);
}

TEST(IcmpMatchTest, V4MappedAddressesKeyAsIpv4) {
  EXPECT_EQ(IcmpFlowKey::Transport(kProtoTcp, make_address("::ffff:192.0.2.10"), 1,
                                   make_address("::ffff:198.51.100.7"), 22),
            IcmpFlowKey::Transport(kProtoTcp, kProbe, 1, kTarget, 22));
  EXPECT_FALSE(IcmpFlowKey::Echo(make_address("::ffff:198.51.100.7"), 1, 2).v6);
}

}  // namespace
}  // namespace parallax::probe
