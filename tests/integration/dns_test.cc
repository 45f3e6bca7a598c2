// DNS per vantage point, end to end on loopback: three real probes, each
// with its own DNS server (Debian's dnsmasq, one per "site", through the
// probe's --dns-server), one of which still serves an old address for the
// target's name. The collector must say dns_mismatch — naming the network,
// both addresses and that SSH fails only at the old one — not source_block;
// `parallax explain` shows the address x vantage matrix; `parallax probes
// --ignoreip` lists the probes' source addresses. ~5 s.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/integration/cluster.h"
#include "tests/integration/harness.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

// dnsmasq answering `name` with `address` on 127.0.0.1:port (UDP), nothing else.
std::unique_ptr<Process> Dnsmasq(const TempDir& dir, const std::string& tag, int port,
                                 const std::string& name, const std::string& address) {
  return std::make_unique<Process>(
      std::vector<std::string>{"dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
                               "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
                               "--pid-file=", "--user=root", "--port=" + std::to_string(port),
                               "--address=/" + name + "/" + address},
      dir.File("dnsmasq-" + tag + ".log"));
}

TEST(DnsPerVantagePoint, AStaleAddressAtOneSiteIsADnsMismatch) {
  if (access("/usr/sbin/dnsmasq", X_OK) != 0) GTEST_SKIP() << "apt-get install dnsmasq-base";
  TempDir dir;
  Listener ssh(Listener::Kind::kFastSsh);  // 127.0.0.1 only: 127.0.0.2 refuses
  int old_port = FreePort(), new_port = FreePort();
  auto old_dns = Dnsmasq(dir, "old", old_port, "web1.test", "127.0.0.2");
  auto new_dns = Dnsmasq(dir, "new", new_port, "web1.test", "127.0.0.1");
  Cluster cluster(dir);
  cluster.Configure({{"web1", "web1.test", ssh.port()}, {"lit", "127.0.0.1", ssh.port()}}, "500ms",
                    "400ms");
  cluster.StartCollector();
  cluster.StartProbe("a1", {{"network", "isp-a"}},
                     {"--insecure", "--dns-server", "127.0.0.1:" + std::to_string(old_port)});
  cluster.StartProbe("b1", {{"network", "isp-b"}},
                     {"--insecure", "--dns-server", "127.0.0.1:" + std::to_string(new_port)});
  cluster.StartProbe("c1", {{"network", "isp-c"}},
                     {"--insecure", "--dns-server", "127.0.0.1:" + std::to_string(new_port)});
  nlohmann::json v;
  bool named = WaitFor(
      [&] {
        v = cluster.CliJson({"explain", "web1"});
        return v.value("cause", "") == "dns_mismatch";
      },
      seconds(30));
  ASSERT_TRUE(named) << v.dump(2) << cluster.probe("a1")->log();
  EXPECT_NE(v.value("summary", "")
                .find("isp-a resolves web1.test to 127.0.0.2, the others to "
                      "127.0.0.1; SSH fails only at that address (a1)"),
            std::string::npos)
      << v.dump(2);
  for (const auto& e : v["evidence"]) {
    std::string want = e["probe"] == "a1" ? "127.0.0.2" : "127.0.0.1";
    ASSERT_EQ(e["dns_a"].size(), 1u) << e.dump();
    EXPECT_EQ(e["dns_a"][0], want) << e.dump();
    EXPECT_EQ(e["address"], want + ":" + std::to_string(ssh.port())) << e.dump();
  }
  CommandResult text = RunCommand(
      {CliBinary(), "--collector", cluster.collector_address(), "--insecure", "explain", "web1"});
  EXPECT_NE(text.out.find("Addresses (what each vantage point resolved"), std::string::npos)
      << text.out;
  std::printf("[ dns ] parallax explain web1, isp-a's resolver serving the old address:\n%s\n",
              text.out.c_str());
  // The literal target is fine from everywhere: the probes themselves are.
  EXPECT_EQ(cluster.CliJson({"explain", "lit"}).value("cause", ""), "ok");
  // Every probe reports the source address its checks leave from (in its
  // heartbeats, which may take a while).
  CommandResult ignore;
  WaitFor(
      [&] {
        ignore = RunCommand({CliBinary(), "--collector", cluster.collector_address(), "--insecure",
                             "probes", "--ignoreip"});
        return ignore.out.find("no source address known yet") == std::string::npos;
      },
      seconds(30));
  EXPECT_NE(ignore.out.find("ignoreip = 127.0.0.1/8 ::1 127.0.0.1\n"), std::string::npos)
      << ignore.out;
  EXPECT_NE(ignore.out.find("PerSourcePenaltyExemptList 127.0.0.1\n"), std::string::npos)
      << ignore.out;
}

}  // namespace
}  // namespace parallax::testing
