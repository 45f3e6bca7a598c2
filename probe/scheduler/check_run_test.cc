#include "probe/scheduler/check_run.h"

#include <gtest/gtest.h>

#include <chrono>

#include "probe/checks/test_server.h"

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;
using testing::ServerBehavior;
using testing::TestServer;

v1::Target MakeTarget(const std::string& name, uint16_t port, uint32_t timeout_ms = 5000) {
  v1::Target t;
  t.set_name(name);
  t.set_host("127.0.0.1");
  t.set_port(port);
  t.set_interval_ms(60000);
  t.set_timeout_ms(timeout_ms);
  return t;
}

TEST(ValidateTargetTest, AcceptsAGoodTarget) {
  v1::Target t = MakeTarget("web-1.example:ssh", 22);
  t.add_liveness_ports(80);
  EXPECT_TRUE(ValidateTarget(t).ok()) << ValidateTarget(t).ToString();
}

TEST(ValidateTargetTest, RejectsWithFieldAndValue) {
  struct Case {
    std::function<void(v1::Target*)> mutate;
    std::string message;  // substring
  };
  const Case cases[] = {
      {[](v1::Target* t) { t->set_name(""); }, "target name \"\" must be 1..128"},
      {[](v1::Target* t) { t->set_name("a b"); }, "target name \"a b\" may contain only"},
      {[](v1::Target* t) { t->set_host(""); }, "target \"t\": host \"\""},
      {[](v1::Target* t) { t->set_port(0); }, "target \"t\": port 0 is not in 1..65535"},
      {[](v1::Target* t) { t->set_port(70000); }, "port 70000"},
      {[](v1::Target* t) { t->set_interval_ms(5); }, "interval_ms 5 is below 100"},
      {[](v1::Target* t) { t->set_timeout_ms(0); }, "timeout_ms 0"},
      {[](v1::Target* t) { t->add_liveness_ports(0); }, "liveness port 0"},
      {[](v1::Target* t) {
         for (int i = 1; i <= 17; ++i) t->add_liveness_ports(i);
       },
       "17 liveness_ports, at most 16"},
  };
  for (const Case& c : cases) {
    v1::Target t = MakeTarget("t", 22);
    c.mutate(&t);
    Status st = ValidateTarget(t);
    EXPECT_FALSE(st.ok()) << c.message;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
  }
}

TEST(CheckRunTest, WantsLivenessOnlyForSilentFailures) {
  EXPECT_TRUE(WantsLiveness(v1::OUTCOME_TIMEOUT));
  EXPECT_TRUE(WantsLiveness(v1::OUTCOME_HOST_UNREACHABLE));
  EXPECT_TRUE(WantsLiveness(v1::OUTCOME_NETWORK_UNREACHABLE));
  EXPECT_FALSE(WantsLiveness(v1::OUTCOME_OK));
  EXPECT_FALSE(WantsLiveness(v1::OUTCOME_REFUSED));
  EXPECT_FALSE(WantsLiveness(v1::OUTCOME_BANNER_TIMEOUT));
  EXPECT_FALSE(WantsLiveness(v1::OUTCOME_DNS_ERROR));
}

class CheckRunRunTest : public ::testing::Test {
 protected:
  v1::CheckResult Run(const v1::Target& t, int* calls = nullptr) {
    io_.restart();  // a previous Run may have left io_ stopped (out of work)
    auto run = CheckRun::Create(io_, t, "SSH-2.0-parallax_probe_test", nullptr, &memory_);
    v1::CheckResult out;
    int done = 0;
    run->Start([&](v1::CheckResult&& r) {
      out = std::move(r);
      ++done;
    });
    for (int i = 0; i < 500 && done == 0; ++i) io_.run_for(milliseconds(20));
    io_.run_for(milliseconds(20));
    EXPECT_EQ(done, 1);
    if (calls != nullptr) *calls = done;
    return out;
  }
  boost::asio::io_context io_;
  RunMemory memory_;
};

TEST_F(CheckRunRunTest, OkHasNoLiveness) {
  TestServer server(io_, ServerBehavior::kSsh);
  v1::Target t = MakeTarget("ok", server.port());
  t.add_liveness_ports(server.port());
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_FALSE(r.has_liveness());
  EXPECT_EQ(server.accepted(), 1);  // no liveness connect
}

// The key exchange runs once per hostkey_interval and again when the
// identification line changes. (The test server never sends KEXINIT: each
// attempt ends at the deadline, recorded as the host key's error.)
TEST_F(CheckRunRunTest, HostKeyOncePerIntervalAndOnIdentificationChange) {
  TestServer server(io_, ServerBehavior::kSsh);
  TestServer other(io_, ServerBehavior::kSsh, "SSH-2.0-OtherServer_2.0\r\n");
  v1::Target t = MakeTarget("hk", server.port(), 300);
  v1::CheckResult r = Run(t);
  EXPECT_FALSE(r.has_host_key());  // hostkey_interval_ms 0: never
  t.set_hostkey_interval_ms(600000);
  r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  ASSERT_TRUE(r.has_host_key());
  EXPECT_NE(r.host_key().error().find("deadline"), std::string::npos) << r.host_key().error();
  r = Run(t);
  EXPECT_FALSE(r.has_host_key());  // within the interval
  t.set_port(other.port());        // another identification line answers
  r = Run(t);
  EXPECT_TRUE(r.has_host_key());
  r = Run(t);
  EXPECT_FALSE(r.has_host_key());
  memory_.hostkeys["hk"].at -= std::chrono::minutes(11);  // the interval passed
  r = Run(t);
  EXPECT_TRUE(r.has_host_key());
}

TEST_F(CheckRunRunTest, RefusedHasNoLiveness) {
  v1::Target t = MakeTarget("refused", testing::ClosedPort());
  t.add_liveness_ports(80);
  t.set_closed_port(testing::ClosedPort());
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_REFUSED);
  EXPECT_FALSE(r.has_liveness());
}

TEST_F(CheckRunRunTest, TimeoutGathersLivenessEvidence) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  TestServer open_port(io_, ServerBehavior::kSilent);
  uint16_t closed = testing::ClosedPort();
  v1::Target t = MakeTarget("filtered", listener.port(), 400);
  t.add_liveness_ports(open_port.port());
  t.add_liveness_ports(closed);
  t.add_liveness_ports(open_port.port());  // duplicates are probed once
  auto start = std::chrono::steady_clock::now();
  v1::CheckResult r = Run(t);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome(), v1::OUTCOME_TIMEOUT) << r.detail();
  ASSERT_TRUE(r.has_liveness());
  const v1::Liveness& l = r.liveness();
  ASSERT_EQ(l.ports_size(), 2);
  EXPECT_EQ(l.ports(0).port(), open_port.port());
  EXPECT_EQ(l.ports(0).outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(l.ports(1).port(), closed);
  EXPECT_EQ(l.ports(1).outcome(), v1::OUTCOME_REFUSED);
  if (l.icmp_error() != "no permission") {
    EXPECT_TRUE(l.icmp_attempted());
    EXPECT_TRUE(l.icmp_reply()) << l.icmp_error();
  }
  EXPECT_GE(took, milliseconds(390));   // the SSH deadline ...
  EXPECT_LT(took, milliseconds(5000));  // ... and liveness ran inside it (bounded generously)
}

TEST_F(CheckRunRunTest, TimeoutTriesTheClosedPortForAResetFromTheHost) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  uint16_t closed = testing::ClosedPort();
  v1::Target t = MakeTarget("filtered", listener.port(), 400);
  t.set_closed_port(closed);
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_TIMEOUT) << r.detail();
  ASSERT_TRUE(r.liveness().has_closed_port());
  EXPECT_EQ(r.liveness().closed_port().port(), closed);
  EXPECT_EQ(r.liveness().closed_port().outcome(), v1::OUTCOME_REFUSED);
  EXPECT_FALSE(r.liveness().closed_port().has_icmp_error());  // a TCP reset, not ICMP
}

TEST_F(CheckRunRunTest, TimeoutTracesThePathOncePerWindow) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  v1::Target t = MakeTarget("filtered", listener.port(), 400);
  t.set_path_max_hops(4);
  t.set_path_budget_ms(2000);
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_TIMEOUT) << r.detail();
  ASSERT_TRUE(r.liveness().has_path()) << r.ShortDebugString();
  // On loopback the full backlog drops every SYN: silent from the first hop.
  EXPECT_FALSE(r.liveness().path().reached());
  EXPECT_FALSE(r.liveness().path().ended().empty());
  v1::CheckResult again = Run(t);
  EXPECT_FALSE(again.liveness().has_path());  // once per target per 5 minutes
}

TEST_F(CheckRunRunTest, RefusedTriesAltPortsAndNamesTheOneThatAnswers) {
  TestServer moved(io_, ServerBehavior::kSsh, "SSH-2.0-OpenSSH_9.2p1\r\n");
  uint16_t closed = testing::ClosedPort();
  uint16_t also_closed = testing::ClosedPort();
  v1::Target t = MakeTarget("moved", closed);
  t.add_alt_ports(also_closed);
  t.add_alt_ports(moved.port());
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_REFUSED) << r.detail();
  const v1::Liveness& l = r.liveness();
  ASSERT_EQ(l.alt_ports_size(), 2);
  EXPECT_EQ(l.alt_ports(0).port(), also_closed);
  EXPECT_EQ(l.alt_ports(0).outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(l.alt_ports(1).port(), moved.port());
  EXPECT_EQ(l.alt_ports(1).outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(l.alt_ports(1).identification(), "SSH-2.0-OpenSSH_9.2p1");
  EXPECT_EQ(l.ssh_answered_on_port(), moved.port());
  EXPECT_NE(r.detail().find("an SSH server answers on port " + std::to_string(moved.port())),
            std::string::npos)
      << r.detail();
  EXPECT_FALSE(l.icmp_attempted());  // no liveness for a refused connect
}

TEST_F(CheckRunRunTest, ResetBeforeAnyLineAsksASecondOpinionOncePerWindow) {
  TestServer server(io_, ServerBehavior::kReset);
  v1::Target t = MakeTarget("rst", server.port(), 1000);
  v1::CheckResult r = Run(t);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_RESET) << r.detail();
  ASSERT_TRUE(r.liveness().has_second_opinion());
  EXPECT_EQ(r.liveness().second_opinion().speaks(), "");
  EXPECT_FALSE(r.liveness().second_opinion().reused());
  int after_first = server.accepted();
  EXPECT_GE(after_first, 2);  // the SSH check and at least the TLS attempt
  v1::CheckResult again = Run(t);
  EXPECT_TRUE(again.liveness().second_opinion().reused());
  io_.run_for(milliseconds(50));
  EXPECT_EQ(server.accepted(), after_first + 1);  // only the SSH check this time
}

// Stale entries are pruned at most once a minute (not per check: that walk
// was quadratic in the targets); a second opinion older than the window is
// not reused even while it is still in the map.
TEST_F(CheckRunRunTest, StaleSecondOpinionIsAskedAgainBeforeThePruneIsDue) {
  TestServer server(io_, ServerBehavior::kReset);
  v1::Target t = MakeTarget("rst", server.port(), 1000);
  v1::CheckResult r = Run(t);
  ASSERT_TRUE(r.liveness().has_second_opinion());
  EXPECT_FALSE(r.liveness().second_opinion().reused());
  ASSERT_EQ(memory_.second_opinions.count("rst"), 1u);
  memory_.second_opinions["rst"].at -= memory_.second_opinion_every;  // the window passed
  memory_.second_opinions_pruned = std::chrono::steady_clock::now();  // no prune due
  int before = server.accepted();
  v1::CheckResult again = Run(t);
  ASSERT_TRUE(again.liveness().has_second_opinion());
  EXPECT_FALSE(again.liveness().second_opinion().reused());
  io_.run_for(milliseconds(50));
  EXPECT_GE(server.accepted(), before + 2);  // the SSH check and a new second opinion
}

TEST(RunMemoryTest, PruneDueAtMostOncePerPeriod) {
  RunMemory m;
  std::chrono::steady_clock::time_point last{};
  auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(m.PruneDue(now, &last));  // never pruned
  EXPECT_EQ(last, now);
  EXPECT_FALSE(m.PruneDue(now + m.prune_every / 2, &last));
  EXPECT_EQ(last, now);
  EXPECT_TRUE(m.PruneDue(now + m.prune_every, &last));
  EXPECT_EQ(last, now + m.prune_every);
}

TEST_F(CheckRunRunTest, TlsServerClosingOnOurLineIsNotSsh) {
  // Closes on our line without a byte; answers a ClientHello with a TLS alert.
  TestServer server(io_, ServerBehavior::kCloseAfterLine);
  v1::Target t = MakeTarget("tls", server.port(), 1000);
  v1::CheckResult r = Run(t);
  // kCloseAfterLine never speaks TLS: the second opinion finds nothing, the
  // outcome stays closed (the real TLS case runs against openssl s_server in
  // tests/integration/real_servers_test).
  EXPECT_EQ(r.outcome(), v1::OUTCOME_CLOSED) << r.detail();
  EXPECT_TRUE(r.liveness().has_second_opinion());
}

TEST_F(CheckRunRunTest, CancelReportsOnce) {
  TestServer server(io_, ServerBehavior::kSilent);
  auto run = CheckRun::Create(io_, MakeTarget("silent", server.port()), "SSH-2.0-x");
  int done = 0;
  v1::CheckResult out;
  run->Start([&](v1::CheckResult&& r) {
    out = std::move(r);
    ++done;
  });
  io_.run_for(milliseconds(100));
  EXPECT_EQ(done, 0);
  run->Cancel();
  run->Cancel();
  for (int i = 0; i < 50 && done == 0; ++i) io_.run_for(milliseconds(20));
  io_.run_for(milliseconds(50));
  EXPECT_EQ(done, 1);
  EXPECT_EQ(out.outcome(), v1::OUTCOME_BANNER_TIMEOUT);
}

// A target given by name is resolved by the probe's own resolver: one name
// the DNS server never answers does not turn another target into dns_error,
// and every answer is recorded.
TEST(CheckRunTest, SlowNameDoesNotTurnOtherTargetsIntoDnsErrors) {
  boost::asio::io_context io;
  TestServer server(io, ServerBehavior::kSsh);
  testing::TestDnsServer dns({{"fast.test", {"127.0.0.1"}}}, {"slow.test"});
  ASSERT_NE(dns.port(), 0);
  RunMemory memory;
  DnsResolverOptions o;
  o.servers = dns.servers();
  ASSERT_TRUE(DnsResolver::Create(io, o, &memory.resolver).ok());
  std::map<std::string, v1::CheckResult> got;
  std::vector<std::string> order;
  std::vector<std::shared_ptr<CheckRun>> runs;
  for (const char* host : {"slow.test", "fast.test", "fast.test"}) {
    v1::Target t = MakeTarget(std::string(host) + std::to_string(runs.size()), server.port(), 2000);
    t.set_host(host);
    auto run = CheckRun::Create(io, t, "SSH-2.0-parallax_probe_test", nullptr, &memory);
    run->Start([&, name = t.name()](v1::CheckResult&& r) {
      order.push_back(name);
      got[name] = std::move(r);
    });
    runs.push_back(run);
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < 3 && std::chrono::steady_clock::now() < until) {
    io.run_one_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(order.back(), "slow.test0");
  for (const char* name : {"fast.test1", "fast.test2"}) {
    const v1::CheckResult& r = got[name];
    EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << name << " " << r.detail();
    EXPECT_TRUE(r.resolved());
    ASSERT_EQ(r.dns_a_size(), 1);
    EXPECT_EQ(r.dns_a(0), "127.0.0.1");
    EXPECT_EQ(r.dns_aaaa_error(), "no record of this type");
    EXPECT_EQ(r.address(), "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(r.source_address(), "127.0.0.1");
  }
  const v1::CheckResult& slow = got["slow.test0"];
  EXPECT_EQ(slow.outcome(), v1::OUTCOME_DNS_ERROR);
  EXPECT_EQ(slow.detail(),
            "resolve slow.test: no address (A: timed out after 2000 ms; AAAA: timed out after "
            "2000 ms)");
  EXPECT_EQ(slow.dns_a_size(), 0);
}

// addresses: all checks every address and says which outcome is whose; the
// default (first) checks only the first IPv4 address.
TEST(CheckRunTest, EachAddressCheckedGetsItsOwnOutcome) {
  boost::asio::io_context io;
  TestServer server(io, ServerBehavior::kSsh);  // 127.0.0.1 only: 127.0.0.2 refuses
  testing::TestDnsServer dns({{"two.test", {"127.0.0.1", "127.0.0.2"}}}, {});
  ASSERT_NE(dns.port(), 0);
  RunMemory memory;
  DnsResolverOptions o;
  o.servers = dns.servers();
  ASSERT_TRUE(DnsResolver::Create(io, o, &memory.resolver).ok());
  for (auto selection : {v1::ADDRESSES_ALL, v1::ADDRESSES_FIRST}) {
    v1::Target t = MakeTarget("two", server.port(), 2000);
    t.set_host("two.test");
    t.set_addresses(selection);
    v1::CheckResult got;
    bool done = false;
    auto run = CheckRun::Create(io, t, "SSH-2.0-parallax_probe_test", nullptr, &memory);
    run->Start([&](v1::CheckResult&& r) {
      got = std::move(r);
      done = true;
    });
    io.restart();
    while (!done && io.run_one_for(std::chrono::seconds(5)) > 0) {
    }
    ASSERT_TRUE(done);
    EXPECT_EQ(got.outcome(), v1::OUTCOME_OK) << got.detail();
    EXPECT_EQ(got.address(), "127.0.0.1:" + std::to_string(server.port()));
    ASSERT_EQ(got.dns_a_size(), 2);
    if (selection == v1::ADDRESSES_ALL) {
      ASSERT_EQ(got.other_addresses_size(), 1);
      EXPECT_EQ(got.other_addresses(0).address(), "127.0.0.2:" + std::to_string(server.port()));
      EXPECT_EQ(got.other_addresses(0).outcome(), v1::OUTCOME_REFUSED);
    } else {
      EXPECT_EQ(got.other_addresses_size(), 0);
    }
  }
}

TEST(CheckRunTest, SelectAddressesFollowsTheSelection) {
  DnsAnswer a;
  a.v4 = {boost::asio::ip::make_address("192.0.2.1"), boost::asio::ip::make_address("192.0.2.2")};
  a.v6 = {boost::asio::ip::make_address("2001:db8::1")};
  auto text = [](const std::vector<boost::asio::ip::address>& v) {
    std::string s;
    for (const auto& x : v) s += x.to_string() + " ";
    return s;
  };
  EXPECT_EQ(text(SelectAddresses(a, v1::ADDRESSES_FIRST, true)), "192.0.2.1 2001:db8::1 ");
  EXPECT_EQ(text(SelectAddresses(a, v1::ADDRESSES_FIRST, false)), "192.0.2.1 ");
  EXPECT_EQ(text(SelectAddresses(a, v1::ADDRESSES_ALL, true)), "192.0.2.1 192.0.2.2 2001:db8::1 ");
  EXPECT_EQ(text(SelectAddresses(a, v1::ADDRESSES_IPV4, true)), "192.0.2.1 ");
  EXPECT_EQ(text(SelectAddresses(a, v1::ADDRESSES_IPV6, false)), "2001:db8::1 ");
  DnsAnswer only6;
  only6.v6 = a.v6;
  EXPECT_EQ(text(SelectAddresses(only6, v1::ADDRESSES_FIRST, false)), "2001:db8::1 ");
}

}  // namespace
}  // namespace parallax::probe
