// The probe's spool and batching against a real collector on loopback:
//  - a backlog of results with ~4 KB of pre-banner text each, larger than the
//    collector's message limit, is delivered in full after an outage
//    (batches bounded in bytes; a rejected batch shrinks, the log names
//    RESOURCE_EXHAUSTED);
//  - (a long collector outage: probe_outage_soak_test.cc, label soak;
//    a full disk under the spool: spool_full_disk_test.cc)
//  - kill -9 of the PROBE during a collector outage loses nothing: the
//    restarted probe resumes its boot from the spool file and delivers
//    everything exactly once;
//  - a probe short of file descriptors reports probe_error, not a network
//    failure of its targets, and pauses new checks.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

#include "tests/integration/cluster.h"
#include "tests/integration/spool_util.h"

namespace parallax::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ProbeSpool, PreBannerBacklogAboveTheMessageLimitIsDeliveredInFull) {
  TempDir dir;
  LoopbackServer server(20, milliseconds(0));  // 20 lines x ~200 bytes before the identification
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");  // counts stored result rows
  // A collector limit of 2 MiB (configurable; 4 MiB by default) and a probe
  // byte bound above it: the first backlog batch (1,000 x ~4 KB) is
  // rejected, the probe must shrink its batches and deliver everything.
  cluster.Configure(Targets(100, server.port()), "200ms", "150ms",
                    "max_receive_message_bytes: 2097152\n");  // ~500 results/s
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}}, {"--insecure", "--max-batch-bytes", "8MiB"});
  std::string db = cluster.db_path();
  ASSERT_TRUE(WaitFor([&] { return Int(db, "SELECT count(*) FROM results") > 200; }, seconds(30)))
      << cluster.probe("p1")->log();
  EXPECT_GT(Int(db, "SELECT max(length(pre_banner)) FROM results"), 3500);

  // The live rate, to know how large the backlog grows.
  auto t_a = Clock::now();
  int64_t c_a = Int(db, "SELECT count(*) FROM results");
  std::this_thread::sleep_for(seconds(2));
  double live_rate = double(Int(db, "SELECT count(*) FROM results") - c_a) /
                     std::chrono::duration<double>(Clock::now() - t_a).count();

  cluster.KillCollector(SIGKILL);
  auto killed = Clock::now();
  int64_t before = Int(db, "SELECT count(*) FROM results");
  std::this_thread::sleep_for(seconds(5));  // ~2,500 results x ~4 KB: ~10 MiB
  cluster.StartCollector();
  auto restarted = Clock::now();
  const int64_t restart_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  // Drained when a result started after the restart is stored and the seqs
  // are contiguous (results go out in seq order): the whole backlog is in.
  // The drain rate runs from the first new row (the probe reconnected).
  double first_row = -1, drained_after = -1;
  int64_t first_count = 0, drained_count = 0;
  const std::string drained_sql =
      "SELECT count(*) = max(seq) AND max(ts_ms) >= " + std::to_string(restart_ms) +
      " FROM results";
  for (int i = 0; i < 1200; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    double t = std::chrono::duration<double>(Clock::now() - restarted).count();
    int64_t n = Int(db, "SELECT count(*) FROM results");
    if (first_row < 0 && n > before) first_row = t, first_count = n;
    if (Int(db, drained_sql) == 1) {
      drained_after = t;
      drained_count = n;
      break;
    }
  }
  const int64_t backlog = drained_count - before;
  const double drain_rate = drained_after > first_row && first_row >= 0
                                ? double(drained_count - first_count) / (drained_after - first_row)
                                : 0.0;
  EXPECT_GT(drained_after, 0) << cluster.probe("p1")->log();
  if (getenv("PARALLAX_TEST_LOGS") != nullptr)
    std::printf("%s\n", cluster.probe("p1")->log().c_str());
  Quiesce(cluster, db);
  Stopped s = StopProbe(cluster.probe("p1"));
  cluster.KillCollector(SIGTERM);
  std::string log = cluster.probe("p1")->log();
  EXPECT_EQ(s.unacked, 0) << log;
  EXPECT_EQ(s.dropped, 0);
  EXPECT_GE(s.rejected, 1) << "an 8 MiB bound against a 2 MiB limit must be rejected once\n" << log;
  EXPECT_NE(log.find("(code 8)"), std::string::npos) << "RESOURCE_EXHAUSTED is code 8\n" << log;
  EXPECT_EQ(log.find("Cancelled"), std::string::npos) << log;
  auto rows = PerBoot(db);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], std::to_string(s.produced) + "|" + std::to_string(s.produced) + "|" +
                         std::to_string(s.produced))
      << "count|distinct|max";
  std::printf(
      "[ probe_spool ] backlog of %lld results (%.0f results/s while up), all stored %.1f s "
      "after the restart (reconnect backoff included), drained at %.0f results/s once "
      "reconnected; %lld results in all, sent in %lld batches (%.1f per batch, resends "
      "included), %lld batch(es) rejected with RESOURCE_EXHAUSTED\n",
      static_cast<long long>(backlog), live_rate, drained_after, drain_rate,
      static_cast<long long>(s.produced), static_cast<long long>(s.batches),
      s.batches > 0 ? double(s.sent) / double(s.batches) : 0.0, static_cast<long long>(s.rejected));
}

TEST(ProbeSpool, KillNineProbeDuringOutageDeliversEverythingOnce) {
  TempDir dir;
  LoopbackServer server(0, milliseconds(0));
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");                 // counts stored result rows
  cluster.Configure(Targets(20, server.port()), "200ms", "150ms");  // ~100 results/s
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});
  std::string db = cluster.db_path();
  ASSERT_TRUE(WaitFor([&] { return Int(db, "SELECT count(*) FROM results") > 100; }, seconds(20)))
      << cluster.probe("p1")->log();

  cluster.KillCollector(SIGKILL);
  int64_t stored_before = Int(db, "SELECT count(*) FROM results");
  std::this_thread::sleep_for(seconds(3));  // ~300 results spooled
  cluster.probe("p1")->Signal(SIGKILL);
  cluster.probe("p1")->Wait(seconds(10));
  std::string first_log = cluster.probe("p1")->log();
  // The probe comes back while the collector is still down, resumes its boot
  // from the spool file and keeps producing.
  cluster.StartProbe("p1", {{"network", "loopback"}});
  ASSERT_TRUE(
      WaitFor([&] { return cluster.probe("p1")->log().find("resuming boot") != std::string::npos; },
              seconds(10)))
      << cluster.probe("p1")->log();
  std::this_thread::sleep_for(seconds(1));
  cluster.StartCollector();
  ASSERT_TRUE(WaitFor([&] { return Int(db, "SELECT count(*) FROM results") > stored_before + 400; },
                      seconds(30)))
      << cluster.probe("p1")->log();
  Quiesce(cluster, db);
  Stopped s = StopProbe(cluster.probe("p1"));
  cluster.KillCollector(SIGTERM);
  EXPECT_EQ(s.unacked, 0) << cluster.probe("p1")->log();
  EXPECT_EQ(s.dropped, 0);
  auto rows = PerBoot(db);
  ASSERT_EQ(rows.size(), 1u) << "one boot across the probe's kill -9";
  EXPECT_EQ(rows[0], std::to_string(s.produced) + "|" + std::to_string(s.produced) + "|" +
                         std::to_string(s.produced))
      << "count|distinct|max; first run's log:\n"
      << first_log << "\nsecond run's log:\n"
      << cluster.probe("p1")->log();
  std::printf(
      "[ probe_spool ] kill -9 of the probe during an outage: %lld results, %lld stored "
      "before the outage, all stored once\n",
      static_cast<long long>(s.produced), static_cast<long long>(stored_before));
}

TEST(ProbeSpool, OutOfDescriptorsIsAProbeErrorNotATargetFailure) {
  TempDir dir;
  LoopbackServer server(0, milliseconds(800));  // each check holds its descriptor ~0.8 s
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");  // counts stored result rows
  cluster.Configure(Targets(150, server.port()), "1s", "900ms");
  cluster.StartCollector();
  // prlimit: the probe gets 64 descriptors; ~120 checks want one at once.
  std::string state = dir.File("p1-state");
  std::vector<std::string> argv = {"prlimit",     "--nofile=64:64",
                                   "--",          ProbeBinary(),
                                   "--collector", cluster.collector_address(),
                                   "--name",      "p1",
                                   "--label",     "network=loopback",
                                   "--insecure",  "--state-dir",
                                   state,         "--allow-loopback"};
  Process probe(argv, dir.File("p1.log"));
  std::string db = cluster.db_path();
  ASSERT_TRUE(WaitFor(
      [&] { return Int(db, "SELECT count(*) FROM results WHERE outcome = 11") > 20; }, seconds(30)))
      << probe.log();
  std::this_thread::sleep_for(seconds(3));
  int64_t probe_errors = Int(db, "SELECT count(*) FROM results WHERE outcome = 11");
  int64_t ok = Int(db, "SELECT count(*) FROM results WHERE outcome = 1");
  int64_t network = Int(db, "SELECT count(*) FROM results WHERE outcome IN (3, 4, 5)");
  EXPECT_GT(ok, 0) << "the checks that got a descriptor succeed";
  EXPECT_EQ(network, 0) << "no timeout/host/network_unreachable for the probe's own trouble";
  auto words =
      SqliteQuery(db, "SELECT DISTINCT outcome FROM results_v WHERE outcome = 'probe_error'");
  EXPECT_EQ(words.size(), 1u) << "the store spells outcome 11 probe_error";
  auto details = SqliteQuery(db, "SELECT detail FROM results WHERE outcome = 11 LIMIT 1");
  ASSERT_EQ(details.size(), 1u);
  EXPECT_NE(details[0].find("probe"), std::string::npos) << details[0];
  EXPECT_NE(probe.log().find("pausing new checks"), std::string::npos) << probe.log();
  // The CLI shows the word too.
  nlohmann::json status = cluster.CliJson({"status"});
  EXPECT_NE(status.dump().find("probe_error"), std::string::npos) << status.dump();
  std::printf("[ probe_spool ] 64 descriptors: %lld probe_error, %lld ok, %lld network\n",
              static_cast<long long>(probe_errors), static_cast<long long>(ok),
              static_cast<long long>(network));
  probe.Signal(SIGTERM);
  probe.Wait(seconds(15));
  cluster.KillCollector(SIGTERM);
}

}  // namespace
}  // namespace parallax::testing
