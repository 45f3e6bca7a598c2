#include "probe/checks/icmp_echo_check.h"

#include <gtest/gtest.h>

#include <chrono>

namespace parallax::probe {
namespace {

using boost::asio::ip::make_address;
using std::chrono::milliseconds;

IcmpEchoResult Ping(const std::string& address, IcmpSocketKind kind) {
  boost::asio::io_context io;
  auto check = IcmpEchoCheck::Create(io, make_address(address), kind);
  bool done = false;
  StartWithDeadline(io, check, milliseconds(2000), [&] { done = true; });
  for (int i = 0; i < 250 && !done; ++i) io.run_for(milliseconds(20));
  EXPECT_TRUE(done);
  return check->result();
}

void ExpectReplyOrSkip(const std::string& address, IcmpSocketKind kind, const char* what) {
  IcmpEchoResult r = Ping(address, kind);
  if (r.error == "no permission") {
    GTEST_SKIP() << what << " to " << address << " not permitted here "
                 << "(needs net.ipv4.ping_group_range to include our gid, or CAP_NET_RAW)";
  }
  if (!r.attempted && !r.error.empty()) GTEST_SKIP() << what << ": " << r.error;
  EXPECT_TRUE(r.attempted);
  EXPECT_TRUE(r.reply) << r.error;
  EXPECT_EQ(r.error, "");
  EXPECT_LT(r.rtt_us, 2000000u);
  if (kind != IcmpSocketKind::kAuto) {
    EXPECT_EQ(r.used, kind);
  }
}

TEST(IcmpEchoCheckTest, ReplyFromLoopbackAuto) {
  ExpectReplyOrSkip("127.0.0.1", IcmpSocketKind::kAuto, "ICMP echo");
}

TEST(IcmpEchoCheckTest, ReplyFromLoopbackPingSocket) {
  ExpectReplyOrSkip("127.0.0.1", IcmpSocketKind::kPing, "an unprivileged ping socket");
}

TEST(IcmpEchoCheckTest, ReplyFromLoopbackRawSocket) {
  ExpectReplyOrSkip("127.0.0.1", IcmpSocketKind::kRaw, "a raw ICMP socket");
}

TEST(IcmpEchoCheckTest, ReplyFromIpv6Loopback) {
  ExpectReplyOrSkip("::1", IcmpSocketKind::kAuto, "ICMPv6 echo");
}

TEST(IcmpEchoCheckTest, ConcurrentChecksEachGetTheirOwnReply) {
  boost::asio::io_context io;
  std::vector<std::shared_ptr<IcmpEchoCheck>> checks;
  int done = 0;
  for (int i = 0; i < 5; ++i) {
    checks.push_back(IcmpEchoCheck::Create(io, make_address("127.0.0.1")));
    StartWithDeadline(io, checks.back(), milliseconds(2000), [&] { ++done; });
  }
  for (int i = 0; i < 250 && done < 5; ++i) io.run_for(milliseconds(20));
  ASSERT_EQ(done, 5);
  if (checks[0]->result().error == "no permission") GTEST_SKIP() << "ICMP not permitted here";
  for (const auto& c : checks) EXPECT_TRUE(c->result().reply) << c->result().error;
}

TEST(IcmpEchoCheckTest, FillsLiveness) {
  boost::asio::io_context io;
  auto check = IcmpEchoCheck::Create(io, make_address("127.0.0.1"));
  bool done = false;
  StartWithDeadline(io, check, milliseconds(2000), [&] { done = true; });
  for (int i = 0; i < 250 && !done; ++i) io.run_for(milliseconds(20));
  ASSERT_TRUE(done);
  v1::Liveness l;
  check->FillLiveness(&l);
  EXPECT_EQ(l.icmp_attempted(), check->result().attempted);
  EXPECT_EQ(l.icmp_reply(), check->result().reply);
  EXPECT_EQ(l.icmp_error(), check->result().error);
}

}  // namespace
}  // namespace parallax::probe
