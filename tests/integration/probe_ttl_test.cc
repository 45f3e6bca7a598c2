// issue 13: a probe disconnected for longer than probe_ttl disappears from
// the real collector's /metrics (every series), `parallax probes` and
// `status`, while its history stays stored; a connected probe stays.
// Runtime: about 10 s (two probes, a 2 s TTL).
#include <gtest/gtest.h>

#include <csignal>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

bool HasProbe(const nlohmann::json& doc, const std::string& name) {
  if (!doc.contains("probes")) return false;
  for (const auto& p : doc["probes"]) {
    if (p.value("name", "") == name) return true;
  }
  return false;
}

TEST(ProbeTtl, DisconnectedProbeAndItsSeriesExpire) {
  TempDir dir;
  Cluster cluster(dir);
  // A closed loopback port: every check ends quickly in "refused".
  cluster.Configure({{"t1", "127.0.0.1", 1}}, "500ms", "400ms", "probe_ttl: 2s\n");
  cluster.StartCollector();
  cluster.StartProbe("gone", {{"network", "isp-a"}});
  cluster.StartProbe("stays", {{"network", "isp-b"}});
  const std::string gone_up = R"(parallax_check_up{probe="gone",target="t1"})";
  const std::string stays_up = R"(parallax_check_up{probe="stays",target="t1"})";
  std::string text;
  ASSERT_TRUE(WaitFor(
      [&] {
        text = cluster.Metrics();
        return text.find(gone_up) != std::string::npos && text.find(stays_up) != std::string::npos;
      },
      seconds(20)))
      << text << cluster.collector()->log();

  cluster.probe("gone")->Signal(SIGKILL);
  // Disconnected first (the series are still there, at 0)...
  ASSERT_TRUE(WaitFor(
      [&] {
        text = cluster.Metrics();
        return text.find(R"(parallax_probe_connected{probe="gone"} 0)") != std::string::npos;
      },
      seconds(10)))
      << text;
  EXPECT_NE(text.find(gone_up), std::string::npos) << text;
  // ...then, past the TTL, gone from every series and from the CLI.
  ASSERT_TRUE(WaitFor(
      [&] {
        text = cluster.Metrics();
        return text.find(R"(probe="gone")") == std::string::npos;
      },
      seconds(10)))
      << text << cluster.collector()->log();
  EXPECT_NE(text.find(stays_up), std::string::npos) << text;
  EXPECT_NE(text.find(R"(parallax_probe_connected{probe="stays"} 1)"), std::string::npos);
  nlohmann::json probes = cluster.CliJson({"probes"});
  EXPECT_FALSE(HasProbe(probes, "gone")) << probes.dump(2);
  EXPECT_TRUE(HasProbe(probes, "stays")) << probes.dump(2);
  nlohmann::json status = cluster.CliJson({"status"});
  EXPECT_FALSE(HasProbe(status, "gone")) << status.dump(2);
  EXPECT_EQ(status.dump().find(R"("probe":"gone")"), std::string::npos) << status.dump(2);
  // History stays.
  nlohmann::json history = cluster.CliJson({"history", "t1", "--probe", "gone", "--limit", "1"});
  ASSERT_TRUE(history.contains("entries")) << history.dump();
  EXPECT_EQ(history["entries"].size(), 1u) << history.dump(2);
  EXPECT_NE(cluster.collector()->log().find("probe gone expired"), std::string::npos)
      << cluster.collector()->log();
}

}  // namespace
}  // namespace parallax::testing
