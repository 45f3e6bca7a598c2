// Storage failures for real: another process holds SQLite's write lock
// longer than the collector's busy wait, three times, while a real probe
// streams results to a real collector. Every result the probe produced must
// be stored exactly once (issue 14: batches queued behind a failed
// transaction used to commit and raise the high-water mark past lost ones).
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

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

// Holds the database's write lock (BEGIN EXCLUSIVE) from this process for
// `hold`, like a backup or an administrator's sqlite3 session would.
void HoldWriteLock(const std::string& db, milliseconds hold) {
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  sqlite3_busy_timeout(conn, 10000);  // wait for the collector's own transaction
  ASSERT_EQ(sqlite3_exec(conn, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(conn);
  std::this_thread::sleep_for(hold);
  EXPECT_EQ(sqlite3_exec(conn, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(conn);
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

TEST(StoreFailure, ExternalWriteLockThreeEpisodesLosesNothingAndStoresNothingTwice) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  std::vector<TargetSpec> targets;
  for (int i = 0; i < 20; ++i) {
    targets.push_back({"t" + std::to_string(i), "127.0.0.1", fast.port()});
  }
  // SQLite waits 200 ms, the collector retries for 400 ms more: a 3 s lock
  // makes transactions fail for real.
  cluster.set_storage_extra("  busy_timeout: 200ms\n  busy_retry: 400ms\n");
  cluster.Configure(targets, "200ms", "150ms");  // about 100 results/s
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});
  const std::string db = cluster.db_path();
  ASSERT_TRUE(WaitFor([&] { return StoredCount(db) > 100; }, seconds(20)))
      << cluster.probe("p1")->log();

  for (int episode = 0; episode < 3; ++episode) {
    HoldWriteLock(db, milliseconds(3000));
    const int64_t before = StoredCount(db);
    ASSERT_TRUE(WaitFor([&] { return StoredCount(db) > before + 200; }, seconds(30)))
        << "episode " << episode << "\n"
        << cluster.collector()->log();
  }
  const std::string collector_log = cluster.collector()->log();
  // The episodes really failed transactions (else this test proves nothing).
  EXPECT_GE(CountOf(collector_log, "failed, rolled back"), 3) << collector_log;
  EXPECT_NE(collector_log.find("database is locked"), std::string::npos) << collector_log;

  // The failures show on /metrics (stats are refreshed every 5 s).
  std::string metrics;
  EXPECT_TRUE(WaitFor(
      [&] {
        metrics = cluster.Metrics();
        return MetricValue(metrics, "parallax_store_errors_total{kind=\"busy\"}") >= 3;
      },
      seconds(15)))
      << metrics;
  EXPECT_GT(MetricValue(metrics, "parallax_store_database_bytes"), 0) << metrics;
  EXPECT_GT(MetricValue(metrics, "parallax_store_free_bytes"), 0) << metrics;
  EXPECT_GT(MetricValue(metrics, "parallax_store_commit_seconds_count"), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "parallax_store_errors_total{kind=\"full\"}"), 0) << metrics;

  Process* probe = cluster.probe("p1");
  probe->Signal(SIGTERM);
  ASSERT_EQ(probe->Wait(seconds(15)), 0) << probe->log();
  std::smatch m;
  const std::string log = probe->log();
  ASSERT_TRUE(std::regex_search(
      log, m,
      std::regex(R"(stopped: (\d+) results produced, (\d+) unacknowledged, (\d+) dropped)")))
      << log;
  const int64_t produced = std::stoll(m[1]);
  EXPECT_EQ(std::stoll(m[2]), 0) << "the probe should drain its spool on SIGTERM";
  EXPECT_EQ(std::stoll(m[3]), 0);
  cluster.KillCollector(SIGTERM);
  EXPECT_EQ(cluster.collector()->Wait(seconds(15)), 0);

  // Run compaction (the default): the runs count every stored check once.
  auto rows = SqliteQuery(db,
                          "SELECT SUM(r.count), min(r.first_seq), max(r.last_seq), "
                          "max(b.max_seq) FROM runs r JOIN probe_boots b ON b.id = r.boot_ref");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(SqliteQuery(db, kOverlappingRunsSql), std::vector<std::string>{"0"});
  const std::string n = std::to_string(produced);
  EXPECT_EQ(rows[0], n + "|1|" + n + "|" + n)
      << "stored|min seq|max seq|probe_boots.max_seq; the probe produced " << produced;
  std::printf(
      "[ store_failure ] %lld results across 3 write-lock episodes; %d failed transactions, "
      "0 lost, 0 duplicated\n",
      static_cast<long long>(produced), CountOf(collector_log, "failed, rolled back"));
}

// Issue 14: a corrupt database restarted the collector every 5 s. Now it
// refuses with a distinct exit code and the recovery command, and that
// command (docs/OPERATIONS.md) gives a file the collector starts on.
TEST(StoreFailure, DamagedDatabaseIsRefusedWithExitCode3AndTheDocumentedRecoveryWorks) {
  TempDir dir;
  Cluster cluster(dir);
  cluster.Configure({{"t0", "127.0.0.1", ClosedPort()}});
  cluster.StartCollector();
  cluster.KillCollector(SIGTERM);
  ASSERT_EQ(cluster.collector()->Wait(seconds(15)), 0);
  const std::string db = cluster.db_path();
  // Some pages of data, then damage every third page past the first ones.
  CommandResult fill = RunCommand(
      {"sqlite3", db,
       "INSERT INTO targets (name, host, labels) SELECT 'x' || value, 'h', printf('%.200c', 'l')"
       " FROM generate_series(1, 3000)"});
  ASSERT_EQ(fill.exit_code, 0) << fill.err;
  std::string bytes = ReadFile(db);
  ASSERT_GT(bytes.size(), 40u * 4096);
  for (size_t page = 4; (page + 1) * 4096 <= bytes.size(); page += 3) {
    for (size_t i = 8; i < 208; ++i) bytes[page * 4096 + i] = '\x5a';
  }
  WriteFile(db, bytes);

  Process refused({CollectorBinary(), "--config", cluster.config_path(), "--insecure"},
                  dir.File("refused.log"));
  EXPECT_EQ(refused.Wait(seconds(30)), 3) << refused.log();
  const std::string log = refused.log();
  EXPECT_NE(log.find("database file is damaged"), std::string::npos) << log;
  EXPECT_NE(log.find(".recover"), std::string::npos) << log;

  // The recovery of docs/OPERATIONS.md, in this test's directory.
  CommandResult recover = RunCommand(
      {"bash", "-c",
       "set -e; cd '" + dir.path() +
           "'; mv parallax.db parallax.db.damaged; rm -f parallax.db-wal parallax.db-shm;"
           " sqlite3 parallax.db.damaged .recover | sqlite3 parallax.db"},
      seconds(60));
  ASSERT_EQ(recover.exit_code, 0) << recover.err;
  cluster.StartCollector();
  EXPECT_TRUE(cluster.collector()->running()) << cluster.collector()->log();
}

}  // namespace
}  // namespace parallax::testing
