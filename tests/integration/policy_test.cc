// The probe's own target policy between real processes: an assignment with
// loopback, link-local (cloud metadata), multicast, too many targets and a
// 100 ms interval is refused item by item, the refusals reach the collector
// (log and parallax_probe_policy_refused_targets), and the allowed targets
// keep being checked. Only loopback is ever contacted: the refused
// addresses are refused before any packet.
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

TEST(TargetPolicy, BreachingTargetsAreRefusedOneByOneAndTheRestRuns) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.Configure(
      {{"ok", "127.0.0.1", fast.port()},
       {"meta", "169.254.169.254", 80},
       {"fast100", "127.0.0.1", fast.port(), "    interval: 100ms\n    timeout: 50ms\n"},
       {"mcast", "224.0.0.1", 22},
       {"ok2", "127.0.0.1", fast.port()},
       {"extra", "127.0.0.1", fast.port()}},
      "1s", "500ms");
  cluster.StartCollector();
  // p1 allows loopback (and nothing else special), at most 2 targets.
  Process p1({ProbeBinary(), "--collector", cluster.collector_address(), "--name", "p1", "--label",
              "network=lo", "--insecure", "--allow-loopback", "--max-targets", "2", "--state-dir", dir.File("p1-state")},
             dir.File("p1.log"));
  // p2 runs the default policy: loopback is refused too.
  Process p2({ProbeBinary(), "--collector", cluster.collector_address(), "--name", "p2", "--label",
              "network=lo2", "--insecure", "--state-dir", dir.File("p2-state")},
             dir.File("p2.log"));

  nlohmann::json status;
  EXPECT_TRUE(
      cluster.WaitForOutcomes({{{"ok", "p1"}, "ok"}, {{"ok2", "p1"}, "ok"}}, seconds(30), &status))
      << status.dump(2) << p1.log();
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricValue(cluster.Metrics(),
                           R"(parallax_probe_policy_refused_targets{probe="p1"})") == 4 &&
               MetricValue(cluster.Metrics(),
                           R"(parallax_probe_policy_refused_targets{probe="p2"})") == 6;
      },
      seconds(20)))
      << cluster.Metrics() << cluster.collector()->log();
  // Item by item, with the reason, in the probe's log ...
  std::string log = p1.log();
  EXPECT_NE(
      log.find("target \"meta\" (169.254.169.254:80): 169.254.169.254 is link-local (the cloud "
               "metadata service)"),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("target \"fast100\" (127.0.0.1:" + std::to_string(fast.port()) +
                     "): interval 100ms is below the minimum 1000ms (--min-interval)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("target \"mcast\" (224.0.0.1:22): 224.0.0.1 is multicast"), std::string::npos)
      << log;
  EXPECT_NE(log.find("target \"extra\""), std::string::npos) << log;
  EXPECT_NE(log.find("more than 2 targets (--max-targets)"), std::string::npos) << log;
  EXPECT_NE(p2.log().find("127.0.0.1 is loopback (allow with --allow-loopback)"), std::string::npos)
      << p2.log();
  // ... and in the collector's.
  std::string clog = cluster.collector()->log();
  EXPECT_NE(clog.find("probe p1 refuses 4 targets of assignment"), std::string::npos) << clog;
  EXPECT_NE(clog.find("probe p2 refuses 6 targets"), std::string::npos) << clog;
  // ... and in `parallax probes`, table and JSON.
  nlohmann::json probes = cluster.CliJson({"probes"});
  bool listed = false;
  for (const auto& p : probes.value("probes", nlohmann::json::array())) {
    if (p.value("name", "") != "p1") continue;
    listed = true;
    EXPECT_EQ(p.value("policy_refused", 0), 4) << p.dump(2);
    std::string reasons = p.value("policy_refusals", nlohmann::json::array()).dump();
    EXPECT_NE(reasons.find("the cloud metadata service"), std::string::npos) << reasons;
  }
  EXPECT_TRUE(listed) << probes.dump(2);
  CommandResult table = RunCommand(
      {CliBinary(), "probes", "--collector", cluster.collector_address(), "--insecure"});
  EXPECT_NE(table.out.find("probe p1 refuses 4 assigned targets under its own target policy"),
            std::string::npos)
      << table.out << table.err;
  EXPECT_NE(table.out.find("127.0.0.1 is loopback (allow with --allow-loopback)"),
            std::string::npos)
      << table.out;
  // Nothing refused was checked: no result for those targets from anyone.
  status = cluster.CliJson({"status"});
  for (const char* t : {"meta", "fast100", "mcast", "extra"}) {
    std::string o = cluster.Outcome(status, t, "p1");
    EXPECT_TRUE(o.empty() || o == "none") << t << status.dump(2);
  }
  std::string o2 = cluster.Outcome(status, "ok", "p2");
  EXPECT_TRUE(o2.empty() || o2 == "none") << status.dump(2);
  EXPECT_EQ(fast.accepted() > 0, true);
}

// A name is judged by the address it resolves to, at every check: "127.1"
// is no address literal (inet_pton refuses it) but getaddrinfo resolves it
// to 127.0.0.1, so without the check after resolution it would slip past
// the loopback rule.
TEST(TargetPolicy, ANameResolvingToARefusedAddressIsAProbeErrorWithoutAPacket) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.Configure({{"dotted", "127.1", fast.port()}}, "1s", "500ms");
  cluster.StartCollector();
  Process strict({ProbeBinary(), "--collector", cluster.collector_address(), "--name", "strict",
                  "--label", "network=a", "--insecure", "--state-dir", dir.File("s-state")},
                 dir.File("strict.log"));
  nlohmann::json status;
  EXPECT_TRUE(cluster.WaitForOutcomes({{{"dotted", "strict"}, "probe_error"}}, seconds(30), &status))
      << status.dump(2) << strict.log();
  std::string detail;
  for (const auto& t : status.value("targets", nlohmann::json::array())) {
    for (const auto& p : t.value("probes", nlohmann::json::array())) {
      if (p.value("probe", "") == "strict") detail = p.value("detail", "");
    }
  }
  EXPECT_NE(detail.find("resolve 127.1: 127.0.0.1 refused by this probe's target policy: "
                        "127.0.0.1 is loopback (allow with --allow-loopback)"),
            std::string::npos)
      << detail;
  EXPECT_EQ(fast.accepted(), 0) << "a refused address must not see a single connection";
  // The same name with loopback allowed is checked as usual.
  Process open({ProbeBinary(), "--collector", cluster.collector_address(), "--name", "open",
                "--label", "network=b", "--insecure", "--allow-loopback", "--state-dir",
                dir.File("o-state")},
               dir.File("open.log"));
  EXPECT_TRUE(cluster.WaitForOutcomes({{{"dotted", "open"}, "ok"}}, seconds(30), &status))
      << status.dump(2) << open.log();
}

}  // namespace
}  // namespace parallax::testing
