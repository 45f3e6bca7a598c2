// Reliability: kill -9 the collector while results flow, restart it, twice;
// every result the probe produced must be stored exactly once.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <regex>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t StoredCount(const std::string& db) {
  auto rows = SqliteQuery(db, kStoredResultsSql);
  return rows.empty() || rows[0].rfind("error", 0) == 0 ? -1 : std::stoll(rows[0]);
}

TEST(Reliability, KillNineCollectorLosesNothingAndStoresNothingTwice) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  std::vector<TargetSpec> targets;
  for (int i = 0; i < 20; ++i) {
    targets.push_back({"t" + std::to_string(i), "127.0.0.1", fast.port()});
  }
  cluster.Configure(targets, "200ms", "150ms");  // about 100 results/s
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});
  std::string db = cluster.db_path();
  ASSERT_TRUE(WaitFor([&] { return StoredCount(db) > 100; }, seconds(20)))
      << cluster.probe("p1")->log();

  for (int round = 0; round < 2; ++round) {
    int64_t before = StoredCount(db);
    cluster.KillCollector(SIGKILL);
    std::this_thread::sleep_for(milliseconds(1500));  // the probe spools meanwhile
    cluster.StartCollector();
    ASSERT_TRUE(WaitFor([&] { return StoredCount(db) > before + 300; }, seconds(20)))
        << "round " << round << "\n"
        << cluster.probe("p1")->log();
  }

  // The probe's backlog from the second outage delivered (its heartbeats, every
  // 5 s, report what it holds): on SIGTERM it then drains the rest within its
  // 3 s. (What it could not drain would stay in its spool file for the next
  // start: probe_spool_test; here every result must be in the database.)
  ASSERT_TRUE(WaitFor(
      [&] {
        double spooled =
            MetricValue(cluster.Metrics(), R"(parallax_probe_spooled_results{probe="p1"})");
        return spooled >= 0 && spooled < 200;
      },
      seconds(30)))
      << cluster.Metrics();
  Process* probe = cluster.probe("p1");
  probe->Signal(SIGTERM);
  ASSERT_EQ(probe->Wait(seconds(15)), 0) << probe->log();
  std::smatch m;
  std::string log = probe->log();
  ASSERT_TRUE(std::regex_search(
      log, m,
      std::regex(R"(stopped: (\d+) results produced, (\d+) unacknowledged, (\d+) dropped)")))
      << log;
  int64_t produced = std::stoll(m[1]);
  EXPECT_EQ(std::stoll(m[2]), 0) << "the probe should drain its spool on SIGTERM";
  EXPECT_EQ(std::stoll(m[3]), 0);
  EXPECT_NE(log.find("results to resend"), std::string::npos);

  cluster.KillCollector(SIGTERM);
  std::printf("[ reliability ] probe produced %lld results across two kill -9 of the collector\n",
              static_cast<long long>(produced));
  // Run compaction (the default): the runs count every stored check once,
  // cover seqs 1..produced, and no seq is in two runs of one pair.
  auto rows = SqliteQuery(db, "SELECT SUM(count), min(first_seq), max(last_seq) FROM runs");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(SqliteQuery(db, kOverlappingRunsSql), std::vector<std::string>{"0"});
  EXPECT_EQ(rows[0], std::to_string(produced) + "|1|" + std::to_string(produced))
      << "stored|min seq|max seq; the probe produced " << produced;
}

}  // namespace
}  // namespace parallax::testing
