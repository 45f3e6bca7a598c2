// End to end on loopback: a real OpenSSH sshd, a closed port, a silent
// listener and an HTTP server as targets; collector and probe as separate
// processes over real gRPC. The outcomes must agree in the CLI's JSON, in
// /metrics and in SQLite.
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

TEST(LoopbackEndToEnd, EveryOutcomeAgreesInCliMetricsAndSqlite) {
  TempDir dir;
  std::string why;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir, &why);
  if (!sshd) GTEST_SKIP() << "cannot run a real sshd here: " << why;
  Listener silent(Listener::Kind::kSilent);
  Listener http(Listener::Kind::kHttp);
  int closed = ClosedPort();

  Cluster cluster(dir);
  cluster.Configure({{"sshd", "127.0.0.1", sshd->port()},
                     {"closed", "127.0.0.1", closed},
                     {"silent", "127.0.0.1", silent.port()},
                     {"http", "127.0.0.1", http.port()}});
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}, {"site", "test"}});

  nlohmann::json status;
  bool ok = cluster.WaitForOutcomes({{{"sshd", "p1"}, "ok"},
                                     {{"closed", "p1"}, "refused"},
                                     {{"silent", "p1"}, "banner_timeout"},
                                     {{"http", "p1"}, "not_ssh"}},
                                    seconds(20), &status);
  ASSERT_TRUE(ok) << status.dump(2) << "\ncollector:\n"
                  << cluster.collector()->log() << "\nprobe:\n"
                  << cluster.probe("p1")->log();

  // The CLI's JSON carries the contract fields.
  for (const auto& t : status["targets"]) {
    if (t["name"] != "sshd") continue;
    const auto& p = t["probes"][0];
    EXPECT_EQ(p["probe"], "p1");
    EXPECT_EQ(p["labels"]["network"], "loopback");
    EXPECT_EQ(t["port"], sshd->port());
    EXPECT_EQ(t["host"], "127.0.0.1");
    EXPECT_EQ(p["banner"].get<std::string>().rfind("SSH-2.0-OpenSSH", 0), 0u) << p.dump();
    EXPECT_GT(p["connect_ms"].get<double>(), 0.0);
    EXPECT_LT(p["age_s"].get<double>(), 10.0);
  }

  // /metrics.
  std::string metrics = cluster.Metrics();
  EXPECT_EQ(MetricValue(metrics, R"(parallax_check_up{probe="p1",target="sshd"})"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, R"(parallax_check_up{probe="p1",target="closed"})"), 0);
  EXPECT_GE(MetricValue(metrics, R"(parallax_check_total{outcome="refused",probe="p1",target="closed"})"), 1);
  EXPECT_GE(MetricValue(metrics, R"(parallax_check_total{outcome="banner_timeout",probe="p1",target="silent"})"), 1);
  EXPECT_GE(MetricValue(metrics, R"(parallax_check_total{outcome="not_ssh",probe="p1",target="http"})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(parallax_probe_connected{probe="p1"})"), 1);

  // SQLite, through the admin's view.
  auto rows = SqliteQuery(cluster.db_path(),
                          "SELECT target, outcome FROM results_v WHERE probe = 'p1' "
                          "GROUP BY target, outcome ORDER BY target, outcome");
  auto has = [&](const std::string& row) {
    return std::find(rows.begin(), rows.end(), row) != rows.end();
  };
  EXPECT_TRUE(has("sshd|ok")) << ::testing::PrintToString(rows);
  EXPECT_TRUE(has("closed|refused"));
  EXPECT_TRUE(has("silent|banner_timeout"));
  EXPECT_TRUE(has("http|not_ssh"));

  // History of one target, newest first, from SQLite through the CLI.
  nlohmann::json history = cluster.CliJson({"history", "sshd", "--limit", "3"});
  ASSERT_TRUE(history.contains("entries")) << history.dump();
  ASSERT_GE(history["entries"].size(), 1u);
  EXPECT_EQ(history["entries"][0]["outcome"], "ok");

  // The probe sent its identification first, so sshd logs no protocol error
  // (the line fail2ban counts against a source).
  std::string log = sshd->log();
  EXPECT_EQ(log.find("did not receive identification string"), std::string::npos) << log;
  EXPECT_EQ(log.find("banner exchange"), std::string::npos) << log;
}

TEST(LoopbackEndToEnd, SigtermShutsDownCleanlyAndStatusSurvivesARestart) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.Configure({{"fast", "127.0.0.1", fast.port()}}, "500ms", "400ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});
  ASSERT_TRUE(cluster.WaitForOutcomes({{{"fast", "p1"}, "ok"}}, seconds(15)));

  cluster.collector()->Signal(SIGTERM);
  EXPECT_EQ(cluster.collector()->Wait(seconds(10)), 0) << cluster.collector()->log();
  EXPECT_NE(cluster.collector()->log().find("shutdown complete"), std::string::npos);

  cluster.probe("p1")->Signal(SIGTERM);
  EXPECT_EQ(cluster.probe("p1")->Wait(seconds(10)), 0) << cluster.probe("p1")->log();

  // Restarted without probes, it still knows the last outcome from SQLite.
  cluster.StartCollector();
  nlohmann::json status = cluster.CliJson({"status"});
  EXPECT_EQ(cluster.Outcome(status, "fast", "p1"), "ok") << status.dump(2);
  bool connected = true;
  for (const auto& p : status["probes"]) {
    if (p["name"] == "p1") connected = p["connected"];
  }
  EXPECT_FALSE(connected);
}

}  // namespace
}  // namespace parallax::testing
