// Issue 14: a long collector outage, shortened (label soak; not in the
// sanitizer builds). What matters to the spool and the drain is the number
// of results, not the wall time: 250 loopback targets every 100 ms for a 24 s
// outage produce ~60,000 results, as many as 30 minutes of 33 targets every
// 1 s (the output says how many minutes the run stood for). The collector is
// killed -9; the probe's spool file holds the backlog (counted in the file
// just before the restart); after the restart it drains exactly once:
// count = distinct seqs = max seq = what the probe produced, 0 dropped,
// 0 unacknowledged. The drain rate is printed, never asserted.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>

#include "tests/integration/cluster.h"
#include "tests/integration/spool_util.h"

namespace parallax::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kTargets = 250;
constexpr int kOutageSeconds = 24;

TEST(ProbeOutageSoak, LongOutageSpoolHoldsThenDrainsExactlyOnce) {
  TempDir dir;
  LoopbackServer server(0, milliseconds(0));
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");  // counts stored result rows
  cluster.Configure(Targets(kTargets, server.port()), "100ms", "80ms");  // ~2,500 results/s
  cluster.StartCollector();
  const std::string state = dir.File("p1-state");
  cluster.StartProbe("p1", {{"network", "loopback"}}, {"--insecure", "--state-dir", state});
  const std::string db = cluster.db_path();
  const std::string spool_db = state + "/spool.db";
  ASSERT_TRUE(WaitFor([&] { return Int(db, "SELECT count(*) FROM results") > 2000; }, seconds(30)))
      << cluster.probe("p1")->log();

  cluster.KillCollector(SIGKILL);
  const auto outage_start = Clock::now();
  const int64_t stored_before = Int(db, "SELECT count(*) FROM results");
  std::this_thread::sleep_for(seconds(kOutageSeconds));
  // What the spool file holds now (the probe's writer commits every ~20 ms;
  // a busy read is retried).
  int64_t held_on_disk = -1;
  WaitFor(
      [&] {
        held_on_disk = Int(spool_db, "SELECT count(*) FROM results");
        return held_on_disk >= 0;
      },
      seconds(5));
  const double outage_s = std::chrono::duration<double>(Clock::now() - outage_start).count();
  cluster.StartCollector();
  const auto restarted = Clock::now();
  const int64_t restart_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  // Drained: the seqs are contiguous from 1 and a result started after the
  // restart is stored (results go out in seq order).
  const std::string drained_sql =
      "SELECT count(*) = max(seq) AND max(ts_ms) >= " + std::to_string(restart_ms) +
      " FROM results";
  double drained_after = -1;
  int64_t drained_count = 0;
  for (int i = 0; i < 1200; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    if (Int(db, drained_sql) == 1) {
      drained_after = std::chrono::duration<double>(Clock::now() - restarted).count();
      drained_count = Int(db, "SELECT count(*) FROM results");
      break;
    }
  }
  ASSERT_GT(drained_after, 0) << "the backlog did not drain within 120 s\n"
                              << cluster.probe("p1")->log();
  Quiesce(cluster, db);
  Stopped s = StopProbe(cluster.probe("p1"));
  cluster.KillCollector(SIGTERM);
  const std::string log = cluster.probe("p1")->log();
  EXPECT_EQ(s.unacked, 0) << log;
  EXPECT_EQ(s.dropped, 0) << log;
  EXPECT_EQ(s.disk_errors, 0) << log;
  auto rows = PerBoot(db);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], std::to_string(s.produced) + "|" + std::to_string(s.produced) + "|" +
                         std::to_string(s.produced))
      << "count|distinct|max";
  const int64_t backlog = drained_count - stored_before;
  // The spool held the outage's results on disk (all but the last moments').
  EXPECT_GT(held_on_disk, backlog / 2) << "held " << held_on_disk << " of " << backlog;
  // Enough results to stand for a long outage (10 minutes of 33 targets at
  // 1 s); a machine too loaded to produce them makes the test say so.
  EXPECT_GT(backlog, 33 * 600) << "the outage produced too few results";
  std::printf(
      "[ probe_outage_soak ] %.0f s outage of %d targets at 100 ms (as many results as %.0f min "
      "of 33 targets at 1 s): %lld results spooled (%lld in the spool file at the restart), "
      "drained in %.1f s after the restart (%.0f results/s, reconnect backoff included); "
      "%lld results in all, each stored once (count = distinct = max seq), 0 dropped, "
      "0 unacknowledged\n",
      outage_s, kTargets, double(backlog) / 33.0 / 60.0, static_cast<long long>(backlog),
      static_cast<long long>(held_on_disk), drained_after, double(backlog) / drained_after,
      static_cast<long long>(s.produced));
}

}  // namespace
}  // namespace parallax::testing
