// TcpPathCheck in a small topology the test builds from network namespaces
// named "ev10p<pid><a|r|t>" (probe -- router -- target), removed at the end:
//   A 10.231.1.2/24 -- R 10.231.1.1/24, 10.231.2.1/24 -- T 10.231.2.2/24
// Needs root (ip netns); skipped otherwise.
#include "probe/checks/tcp_path_check.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace parallax::probe {
namespace {

class TcpPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for ip netns";
    std::string p = "ev10p" + std::to_string(getpid());
    a_ = p + "a";
    r_ = p + "r";
    t_ = p + "t";
    std::string cmd = "set -e; ip netns add " + a_ + "; ip netns add " + r_ + "; ip netns add " +
                      t_ + "; ip link add ev10a type veth peer name ev10ra netns " + r_ +
                      "; ip link set ev10a netns " + a_ + "; ip -n " + r_ +
                      " link add ev10rt type veth peer name ev10t netns " + t_ + "; ip -n " + a_ +
                      " addr add 10.231.1.2/24 dev ev10a; ip -n " + a_ +
                      " link set ev10a up; ip -n " + a_ + " link set lo up; ip -n " + a_ +
                      " route add default via 10.231.1.1"
                      "; ip -n " +
                      r_ + " addr add 10.231.1.1/24 dev ev10ra; ip -n " + r_ +
                      " addr add 10.231.2.1/24 dev ev10rt; ip -n " + r_ +
                      " link set ev10ra up; ip -n " + r_ + " link set ev10rt up; ip netns exec " +
                      r_ +
                      " sysctl -qw net.ipv4.ip_forward=1"
                      "; ip -n " +
                      t_ + " addr add 10.231.2.2/24 dev ev10t; ip -n " + t_ +
                      " link set ev10t up; ip -n " + t_ + " route add default via 10.231.2.1";
    if (std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) != 0) {
      TearDown();
      GTEST_SKIP() << "could not build the namespace topology";
    }
    built_ = true;
  }
  void TearDown() override {
    for (const std::string& n : {a_, r_, t_}) {
      if (!n.empty()) (void)!std::system(("ip netns del " + n + " >/dev/null 2>&1").c_str());
    }
  }
  bool Nft(const std::string& ns, const std::string& hook, const std::string& rule) {
    std::string cmd = "ip netns exec " + ns +
                      " sh -c \"nft add table inet ev10 && nft add chain "
                      "inet ev10 c '{ type filter hook " +
                      hook +
                      " priority 0; }' && nft add rule "
                      "inet ev10 c " +
                      rule + "\" >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }
  // Runs the check in namespace A; returns hops as "ttl:sender:answer;..." + "|" + ended.
  std::string Trace(uint16_t port) {
    int fds[2];
    if (pipe(fds) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int ns = open(("/run/netns/" + a_).c_str(), O_RDONLY);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(1);
      boost::asio::io_context io;
      auto c = TcpPathCheck::Create(
          io, {boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("10.231.2.2"), port), 8,
               3, std::chrono::milliseconds(300)});
      StartWithDeadline(io, c, std::chrono::milliseconds(5000), [] {});
      io.run_for(std::chrono::seconds(7));
      std::string out;
      for (const auto& h : c->result().hops()) {
        out += std::to_string(h.ttl()) + ":" + h.sender() + ":" + h.answer() +
               (h.is_target() ? ":target" : "") + ";";
      }
      out += "|" + c->result().ended();
      (void)!write(fds[1], out.data(), out.size());
      _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
    close(fds[0]);
    waitpid(pid, nullptr, 0);
    return out;
  }
  std::string a_, r_, t_;
  bool built_ = false;
};

TEST_F(TcpPathTest, RouterThenTargetReset) {
  EXPECT_EQ(Trace(2201), "1:10.231.1.1:time exceeded;2:10.231.2.2:reset:target;|reached");
}

TEST_F(TcpPathTest, DropAtTheTargetGoesSilentAfterTheRouter) {
  if (!Nft(t_, "input", "tcp dport 2201 drop")) GTEST_SKIP() << "nft not usable";
  EXPECT_EQ(Trace(2201), "1:10.231.1.1:time exceeded;2::;3::;4::;|silent after hop 1");
}

TEST_F(TcpPathTest, RouterRejectingIsNamed) {
  if (!Nft(r_, "forward", "tcp dport 2201 reject with icmpx type admin-prohibited")) {
    GTEST_SKIP() << "nft not usable";
  }
  EXPECT_EQ(Trace(2201),
            "1:10.231.1.1:time exceeded;2:10.231.1.1:communication administratively "
            "prohibited;|icmp communication administratively prohibited from 10.231.1.1");
}

}  // namespace
}  // namespace parallax::probe
