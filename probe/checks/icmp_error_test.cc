#include "probe/checks/icmp_error.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "probe/checks/ssh_check.h"
#include "probe/checks/netns_child.h"
#include "probe/checks/tcp_connect_check.h"

namespace parallax::probe {
namespace {

namespace ip = boost::asio::ip;

TEST(IcmpErrorTest, Descriptions) {
  EXPECT_EQ(IcmpDescription(4, 3, 3), "port unreachable");
  EXPECT_EQ(IcmpDescription(4, 3, 1), "host unreachable");
  EXPECT_EQ(IcmpDescription(4, 3, 13), "communication administratively prohibited");
  EXPECT_EQ(IcmpDescription(4, 3, 10), "host administratively prohibited");
  EXPECT_EQ(IcmpDescription(4, 3, 99), "destination unreachable (code 99)");
  EXPECT_EQ(IcmpDescription(4, 11, 0), "TTL exceeded in transit");
  EXPECT_EQ(IcmpDescription(6, 1, 1), "communication administratively prohibited");
  EXPECT_EQ(IcmpDescription(6, 1, 4), "port unreachable");
  EXPECT_EQ(IcmpDescription(6, 3, 0), "hop limit exceeded in transit");
}

TEST(IcmpErrorTest, FromTargetComparesAddressesIncludingV4Mapped) {
  auto target = ip::make_address("192.0.2.7");
  v1::IcmpError e = MakeIcmpError(4, 3, 3, ip::make_address("192.0.2.7"), target);
  EXPECT_TRUE(e.from_target());
  EXPECT_EQ(e.sender(), "192.0.2.7");
  EXPECT_EQ(e.family(), 4u);
  EXPECT_EQ(e.type(), 3u);
  EXPECT_EQ(e.code(), 3u);
  EXPECT_EQ(e.description(), "port unreachable");
  EXPECT_FALSE(MakeIcmpError(4, 3, 13, ip::make_address("198.51.100.1"), target).from_target());
  EXPECT_TRUE(MakeIcmpError(4, 3, 3, ip::make_address("::ffff:192.0.2.7"), target).from_target());
  v1::IcmpError unknown = MakeIcmpError(4, 3, 1, ip::address_v4::any(), target);
  EXPECT_FALSE(unknown.from_target());
  EXPECT_EQ(unknown.sender(), "");
}

std::string ConnectOnce() {
  boost::asio::io_context io;
  auto c = TcpConnectCheck::Create(io, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 2201));
  StartWithDeadline(io, c, std::chrono::milliseconds(2000), [] {});
  io.run_for(std::chrono::seconds(4));
  const v1::PortProbe& r = c->result();
  return std::to_string(r.outcome()) + "|" +
         (r.has_icmp_error() ? r.icmp_error().description() + "|" + r.icmp_error().sender() + "|" +
                                   (r.icmp_error().from_target() ? "target" : "other")
                             : "none");
}

TEST(IcmpErrorTest, NftRejectIsAnIcmpPortUnreachableFromTheTarget) {
  std::string skip;
  std::string out = InNetns("reject", ConnectOnce, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(out, std::to_string(v1::OUTCOME_REFUSED) + "|port unreachable|127.0.0.1|target");
}

TEST(IcmpErrorTest, NftRejectAdminProhibited) {
  std::string skip;
  std::string out = InNetns("reject with icmpx type admin-prohibited", ConnectOnce, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(out, std::to_string(v1::OUTCOME_HOST_UNREACHABLE) +
                     "|communication administratively prohibited|127.0.0.1|target");
}

TEST(IcmpErrorTest, TcpResetCarriesNoIcmpError) {
  std::string skip;
  std::string out = InNetns("reject with tcp reset", ConnectOnce, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(out, std::to_string(v1::OUTCOME_REFUSED) + "|none");
}

TEST(IcmpErrorTest, SshCheckRecordsTheIcmpErrorAndSaysSo) {
  std::string skip;
  std::string out = InNetns(
      "reject",
      [] {
        boost::asio::io_context io;
        auto c = SshCheck::Create(io, {"127.0.0.1", 2201, "SSH-2.0-parallax_probe_test"});
        StartWithDeadline(io, c, std::chrono::milliseconds(2000), [] {});
        io.run_for(std::chrono::seconds(4));
        const v1::CheckResult& r = c->result();
        return std::to_string(r.outcome()) + "|" + r.liveness().ssh_icmp_error().description() +
               "|" + r.detail();
      },
      &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(out.substr(0, out.find('|')), std::to_string(v1::OUTCOME_REFUSED)) << out;
  EXPECT_NE(out.find("|port unreachable|"), std::string::npos) << out;
  EXPECT_NE(out.find("(ICMP port unreachable from 127.0.0.1)"), std::string::npos) << out;
}

}  // namespace
}  // namespace parallax::probe
