// Restarts are seamless: a collector killed with -9 in the middle of an
// incident continues it after the restart (no close and reopen), and changes
// no verdict until the probes that were active before are back.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

nlohmann::json IncidentsOf(Cluster& cluster, const std::string& target) {
  nlohmann::json j = cluster.CliJson({"incidents", target});
  return j.is_object() && j.contains("incidents") ? j["incidents"] : nlohmann::json::array();
}

TEST(Restart, KillNineMidIncidentContinuesTheIncident) {
  TempDir dir;
  Cluster cluster(dir);
  cluster.Configure({{"down", "127.0.0.1", ClosedPort()}}, "1s", "700ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "a"}});
  cluster.StartProbe("p2", {{"network", "b"}});
  nlohmann::json inc;
  ASSERT_TRUE(WaitFor(
      [&] {
        inc = IncidentsOf(cluster, "down");
        return inc.size() == 1 && inc[0].value("cause", "") == "ssh_refused";
      },
      seconds(30)))
      << inc.dump(2) << cluster.last_cli_error();
  const int64_t id = inc[0]["id"];

  cluster.KillCollector(SIGKILL);
  std::this_thread::sleep_for(milliseconds(500));
  cluster.StartCollector();
  // Probes reconnect (with their backoff: up to 8 s after a few attempts,
  // more on a starved machine); evaluations run every second. Meanwhile the
  // cause may read `unknown` (no fresh result), which neither opens nor
  // closes an incident.
  nlohmann::json explain;
  EXPECT_TRUE(WaitFor(
      [&] {
        explain = cluster.CliJson({"explain", "down"});
        return explain.value("cause", "") == "ssh_refused" && explain.contains("evidence") &&
               explain["evidence"].size() == 2 &&
               explain["evidence"][0].value("role", "").rfind("agrees", 0) == 0 &&
               explain["evidence"][1].value("role", "").rfind("agrees", 0) == 0;
      },
      seconds(60)))
      << explain.dump(2) << "\ncollector:\n"
      << cluster.collector()->log() << "\np1:\n"
      << cluster.probe("p1")->log() << "\np2:\n"
      << cluster.probe("p2")->log();
  inc = IncidentsOf(cluster, "down");
  ASSERT_EQ(inc.size(), 1u) << "the restart split the incident:\n" << inc.dump(2);
  EXPECT_EQ(inc[0]["id"], id);
  EXPECT_TRUE(inc[0]["open"].get<bool>()) << inc.dump(2);
  EXPECT_EQ(inc[0]["changes"].size(), 1u) << inc.dump(2);
  std::string log = cluster.collector()->log();
  EXPECT_NE(log.find("probes were active before"), std::string::npos) << log;
}

}  // namespace
}  // namespace parallax::testing
