// The shared ICMP receiver with real sockets: loopback only, and network
// namespaces the tests create (nftables REJECT). Needs CAP_NET_RAW (skips
// without it) and, for the namespace tests, CAP_SYS_ADMIN and nft.
#include "probe/checks/icmp_receiver.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "probe/checks/icmp_echo_check.h"
#include "probe/checks/ssh_check.h"
#include "probe/checks/netns_child.h"
#include "probe/checks/tcp_connect_check.h"

namespace parallax::probe {
namespace {

namespace ip = boost::asio::ip;
using std::chrono::milliseconds;

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

TEST(IcmpReceiverTest, ModeIsReported) {
  boost::asio::io_context io;
  auto r = IcmpReceiver::Open(io, false);
  EXPECT_FALSE(r->mode().empty());
  if (r->shared(false)) {
    EXPECT_NE(r->mode().find("shared raw ICMP socket"), std::string::npos);
  }
  r->Close();
  EXPECT_FALSE(r->shared(false));
  EXPECT_FALSE(r->shared(true));
}

// 1,000 pings in flight at once to 1,000 loopback addresses: one socket, and
// every check gets its own reply.
TEST(IcmpReceiverTest, ThousandConcurrentPingsThroughOneSocket) {
  boost::asio::io_context io;
  auto receiver = IcmpReceiver::Open(io, false);
  if (!receiver->shared(false)) GTEST_SKIP() << "no raw ICMP socket here: " << receiver->mode();
  constexpr int kPings = 1000;
  int fds_before = OpenFds();
  std::vector<std::shared_ptr<IcmpEchoCheck>> checks;
  int done = 0;
  for (int i = 0; i < kPings; ++i) {
    ip::address_v4 a(0x7F000000u + 0x100u + static_cast<uint32_t>(i));  // 127.0.1.0 ...
    checks.push_back(IcmpEchoCheck::Create(io, a, IcmpSocketKind::kAuto, receiver));
    StartWithDeadline(io, checks.back(), milliseconds(10000), [&] { ++done; });
  }
  EXPECT_LE(OpenFds() - fds_before, 8) << "pings must not open sockets of their own";
  EXPECT_EQ(receiver->registered(), static_cast<size_t>(kPings));
  for (int i = 0; i < 600 && done < kPings; ++i) io.run_for(milliseconds(20));
  ASSERT_EQ(done, kPings);
  int replies = 0;
  for (const auto& c : checks) {
    EXPECT_EQ(c->result().used, IcmpSocketKind::kShared);
    if (c->result().reply) ++replies;
  }
  EXPECT_EQ(replies, kPings) << checks[0]->result().error;
  EXPECT_EQ(receiver->stats().echo_sent, static_cast<uint64_t>(kPings));
  EXPECT_GE(receiver->stats().match.matched, static_cast<uint64_t>(kPings));
  EXPECT_EQ(receiver->registered(), 0u);
}

TEST(IcmpReceiverTest, Ipv6PingThroughTheSharedSocket) {
  boost::asio::io_context io;
  auto receiver = IcmpReceiver::Open(io, false);
  if (!receiver->shared(true)) GTEST_SKIP() << "no raw ICMPv6 socket here: " << receiver->mode();
  auto c = IcmpEchoCheck::Create(io, ip::make_address("::1"), IcmpSocketKind::kAuto, receiver);
  bool done = false;
  StartWithDeadline(io, c, milliseconds(3000), [&] { done = true; });
  for (int i = 0; i < 200 && !done; ++i) io.run_for(milliseconds(20));
  ASSERT_TRUE(done);
  EXPECT_EQ(c->result().used, IcmpSocketKind::kShared);
  EXPECT_TRUE(c->result().reply) << c->result().error;
}

// A UDP datagram to a closed loopback port draws an ICMP port unreachable
// from 127.0.0.1; the receiver hands it to the flow it quotes and to no other.
TEST(IcmpReceiverTest, UdpPortUnreachableGoesToItsFlowOnly) {
  boost::asio::io_context io;
  auto receiver = IcmpReceiver::Open(io, false);
  if (!receiver->shared(false)) GTEST_SKIP() << "no raw ICMP socket here: " << receiver->mode();
  ip::address lo = ip::make_address("127.0.0.1");
  uint16_t closed_port;
  {
    ip::udp::socket probe(io, ip::udp::endpoint(lo, 0));
    closed_port = probe.local_endpoint().port();
  }  // closed: nothing listens there now
  ip::udp::socket s(io, ip::udp::endpoint(lo, 0));
  uint16_t local_port = s.local_endpoint().port();
  std::vector<IcmpEvent> ours, decoy;
  ASSERT_TRUE(receiver->Register(IcmpFlowKey::Transport(kProtoUdp, lo, local_port, lo, closed_port),
                                 [&](const IcmpEvent& e) { ours.push_back(e); }));
  ASSERT_TRUE(
      receiver->Register(IcmpFlowKey::Transport(kProtoUdp, lo, local_port, lo, closed_port + 1),
                         [&](const IcmpEvent& e) { decoy.push_back(e); }));
  uint64_t unmatched_before = receiver->stats().match.unmatched;
  s.send_to(boost::asio::buffer("x", 1), ip::udp::endpoint(lo, closed_port));
  for (int i = 0; i < 100 && ours.empty(); ++i) io.run_for(milliseconds(20));
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].kind, IcmpEvent::Kind::kError);
  EXPECT_EQ(ours[0].family, 4);
  EXPECT_EQ(ours[0].type, 3);
  EXPECT_EQ(ours[0].code, 3);
  EXPECT_EQ(ours[0].sender, lo);
  EXPECT_TRUE(decoy.empty());
  // A flow nobody registered: the same error is counted, not delivered.
  receiver->Unregister(IcmpFlowKey::Transport(kProtoUdp, lo, local_port, lo, closed_port));
  s.send_to(boost::asio::buffer("x", 1), ip::udp::endpoint(lo, closed_port));
  for (int i = 0; i < 100 && receiver->stats().match.unmatched == unmatched_before; ++i) {
    io.run_for(milliseconds(20));
  }
  EXPECT_GT(receiver->stats().match.unmatched, unmatched_before);
  EXPECT_EQ(ours.size(), 1u);
  EXPECT_TRUE(decoy.empty());
}

// A TcpConnectCheck and an SshCheck against an nft REJECT: the shared
// receiver matches the ICMP port unreachable to each connect by its ports.
TEST(IcmpReceiverTest, NftRejectIsMatchedToTheConnectByTheSharedReceiver) {
  std::string skip;
  std::string out = InNetns(
      "reject",
      [] {
        boost::asio::io_context io;
        auto receiver = IcmpReceiver::Open(io, false);
        if (!receiver->shared(false)) return std::string("SKIP no raw ICMP socket");
        auto c = TcpConnectCheck::Create(io, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 2201),
                                         receiver);
        auto s =
            SshCheck::Create(io, {"127.0.0.1", 2201, "SSH-2.0-parallax_probe_test", 0, receiver});
        StartWithDeadline(io, c, milliseconds(2500), [] {});
        StartWithDeadline(io, s, milliseconds(2500), [] {});
        io.run_for(std::chrono::seconds(4));
        const v1::PortProbe& r = c->result();
        const v1::IcmpError& se = s->result().liveness().ssh_icmp_error();
        return std::to_string(r.outcome()) + "|" + r.icmp_error().description() + "|" +
               r.icmp_error().sender() + "|" + (r.icmp_error().from_target() ? "target" : "other") +
               "|" + se.description() + "|" + se.sender() +
               "|matched=" + std::to_string(receiver->stats().match.matched) +
               "|registered=" + std::to_string(receiver->registered());
      },
      &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  if (out.rfind("SKIP ", 0) == 0) GTEST_SKIP() << out;
  EXPECT_EQ(out, std::to_string(v1::OUTCOME_REFUSED) +
                     "|port unreachable|127.0.0.1|target|port unreachable|127.0.0.1"
                     "|matched=2|registered=0");
}

// A forged port unreachable that quotes a flow the probe never opened (right
// addresses, wrong source port) reaches no check; it is only counted.
TEST(IcmpReceiverTest, SpoofedErrorQuotingAnotherFlowIsCountedNotDelivered) {
  boost::asio::io_context io;
  auto receiver = IcmpReceiver::Open(io, false);
  if (!receiver->shared(false)) GTEST_SKIP() << "no raw ICMP socket here: " << receiver->mode();
  ip::address lo = ip::make_address("127.0.0.1");
  int delivered = 0;
  receiver->Register(IcmpFlowKey::Transport(kProtoTcp, lo, 40000, lo, 22),
                     [&](const IcmpEvent&) { ++delivered; });
  // Send the forgery through a raw socket of our own: ICMP type 3 code 3
  // quoting TCP 127.0.0.1:40001 -> 127.0.0.1:22.
  int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  ASSERT_GE(fd, 0);
  unsigned char p[8 + 20 + 8] = {3, 3};
  unsigned char* inner = p + 8;
  inner[0] = 0x45;
  inner[8] = 64;
  inner[9] = 6;
  std::memcpy(inner + 12, "\x7f\x00\x00\x01", 4);
  std::memcpy(inner + 16, "\x7f\x00\x00\x01", 4);
  inner[20] = 40001 >> 8;
  inner[21] = 40001 & 0xFF;
  inner[23] = 22;
  uint32_t sum = 0;
  for (size_t i = 0; i < sizeof(p); i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  p[2] = static_cast<unsigned char>(~sum >> 8);
  p[3] = static_cast<unsigned char>(~sum);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(0x7F000001);
  uint64_t unmatched = receiver->stats().match.unmatched;
  ASSERT_EQ(::sendto(fd, p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            static_cast<ssize_t>(sizeof(p)));
  ::close(fd);
  for (int i = 0; i < 100 && receiver->stats().match.unmatched == unmatched; ++i) {
    io.run_for(milliseconds(20));
  }
  EXPECT_GT(receiver->stats().match.unmatched, unmatched);
  EXPECT_EQ(delivered, 0);
}

}  // namespace
}  // namespace parallax::probe
