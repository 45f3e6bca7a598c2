// PostgresStore beyond the shared contract (store_test.cc runs that against
// both drivers): a server killed mid-stream, two collectors migrating one
// database at once, two collectors sharing it (committed marks read through,
// latest_results, the leader lock: PgCoordinator), retention by dropping partitions, configuration
// errors. A real server (testing/pg_server.h), shared by the whole test process.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <thread>

#include "collector/store/pg_coordinator.h"
#include "collector/store/pg_util.h"
#include "collector/store/postgres_schema.h"
#include "collector/store/store.h"
#include "collector/store/testing/store_test_db.h"
#include "common/clock.h"

namespace parallax::collector {
namespace {

v1::CheckResult Result(uint64_t seq, int64_t ts_ms, const std::string& target = "t1") {
  v1::CheckResult r;
  r.set_seq(seq);
  r.set_target(target);
  r.set_started_unix_ms(ts_ms);
  r.set_outcome(v1::OUTCOME_OK);
  return r;
}

std::vector<v1::CheckResult> Seqs(uint64_t from, uint64_t to, int64_t ts_ms = 0) {
  std::vector<v1::CheckResult> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(Result(s, ts_ms ? ts_ms : 1000 + s));
  return out;
}

CommitInfo Submit(Store* store, const std::string& probe, const std::string& boot,
                  std::vector<v1::CheckResult> results) {
  auto done = std::make_shared<std::promise<CommitInfo>>();
  auto f = done->get_future();
  store->SubmitResults(probe, boot, std::move(results), [done](const CommitInfo& info) {
    CommitInfo copy = info;
    copy.results = nullptr;
    done->set_value(copy);
  });
  EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  return f.get();
}

int64_t QueryInt(const std::string& db, const std::string& sql) {
  std::string v;
  Status s = testing::SharedPgServer()->Exec(db, sql, &v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v.empty() ? -1 : std::stoll(v);
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.retention = std::chrono::milliseconds(0);
    options_.incident_retention = std::chrono::milliseconds(0);
    options_.change_retention = std::chrono::milliseconds(0);
    // These tests count stored rows: every result whole (compaction is
    // tested in store_test.cc's contract suite).
    options_.compaction = false;
    ASSERT_NO_FATAL_FAILURE(UsePostgres(&options_, &db_));
    server_ = testing::SharedPgServer();
  }
  void Open() {
    store_.reset();
    Status s = Store::Open(options_, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::string db_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  testing::PgServer* server_ = nullptr;
};

// The server dies (immediate shutdown: every backend killed) while a probe
// streams: submissions fail, the probe resends from its new stream's Welcome
// after the restart, and the store ends with exactly seqs 1..max, every
// acknowledged one among them, none twice.
TEST_F(PostgresStoreTest, ServerKilledMidStreamLosesNothingAckedAndResumesAfterRestart) {
  Open();
  std::atomic<uint64_t> acked{0};
  std::atomic<int> failures{0};
  std::atomic<bool> restarted{false};
  std::thread probe([&] {
    uint64_t next = 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (restarted && acked >= 2000) break;
      CommitInfo info = Submit(store_.get(), "p1", "boot", Seqs(next, next + 9, WallClockMs()));
      if (info.status.ok()) {
        acked = info.committed_seq;
        next = info.committed_seq + 1;
      } else {
        ++failures;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        next = store_->CommittedSeq("p1", "boot") + 1;  // a new stream's Welcome
      }
    }
  });
  for (int i = 0; i < 3000 && acked < 300; ++i) {  // at most ~30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(server_->Crash().ok());
  for (int i = 0; i < 1000 && failures == 0; ++i) {  // at most ~10 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint64_t acked_at_crash = acked;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Status s = server_->Restart();
  restarted = true;
  probe.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(failures.load(), 0) << "no submission failed while the server was down";
  ASSERT_GE(acked.load(), 2000u) << "the store did not resume after the restart";
  EXPECT_GE(acked.load(), acked_at_crash);
  const int64_t max_seq = QueryInt(db_, "SELECT max_seq FROM probe_boots WHERE boot_id = 'boot'");
  EXPECT_GE(max_seq, static_cast<int64_t>(acked.load()));
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results"), max_seq);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(DISTINCT seq) FROM results"), max_seq);
  EXPECT_EQ(QueryInt(db_, "SELECT MIN(seq) FROM results"), 1);
  EXPECT_EQ(QueryInt(db_, "SELECT MAX(seq) FROM results"), max_seq);
  // Reads reconnect too.
  std::vector<ResultRow> rows;
  s = store_->History("t1", "", 0, 5, &rows);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rows.size(), 5u);
  EXPECT_GE(store_->Stats().errors["connection"], 1u);
}

// Two collectors start on one empty database at the same moment: the
// advisory lock makes one migrate and the other find the schema current.
TEST_F(PostgresStoreTest, TwoStoresOpeningOneDatabaseAtOnceMigrateOnce) {
  std::unique_ptr<Store> a, b;
  Status sa, sb;
  std::promise<void> go;
  std::shared_future<void> start = go.get_future().share();
  std::thread ta([&] {
    start.wait();
    sa = Store::Open(options_, &a);
  });
  std::thread tb([&] {
    start.wait();
    sb = Store::Open(options_, &b);
  });
  go.set_value();
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.ToString();
  ASSERT_TRUE(sb.ok()) << sb.ToString();
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM schema_version"), pg::KnownSchemaVersion());
  EXPECT_EQ(QueryInt(db_, "SELECT MAX(version) FROM schema_version"), pg::KnownSchemaVersion());
  // Both write one boot each and see each other's results.
  EXPECT_EQ(Submit(a.get(), "pa", "b", Seqs(1, 5)).stored, 5);
  EXPECT_EQ(Submit(b.get(), "pb", "b", Seqs(1, 5)).stored, 5);
  // A result resent to the other collector is recognised (one shared truth).
  CommitInfo resent = Submit(b.get(), "pa", "b", Seqs(1, 6));
  EXPECT_EQ(resent.stored, 1);
  EXPECT_EQ(resent.duplicates, 5);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results"), 11);
}

// Two collectors on one database: the Welcome's committed seq is the
// database's, not a stale cache; contiguous commits continue from it; each
// commit keeps latest_results (one row per pair, never replaced by an older
// result), which the coordinator polls by ingest time.
TEST_F(PostgresStoreTest, SharedDatabaseCommittedSeqReadsThroughAndLatestResultsFollow) {
  std::unique_ptr<Store> a, b;
  ASSERT_TRUE(Store::Open(options_, &a).ok());
  ASSERT_TRUE(Store::Open(options_, &b).ok());
  EXPECT_TRUE(a->shared());
  EXPECT_EQ(Submit(b.get(), "p", "boot", Seqs(1, 3)).stored, 3);
  EXPECT_EQ(b->CommittedSeq("p", "boot"), 3u);
  // The probe moves to a, which stores more: b's cached mark is stale.
  EXPECT_EQ(a->CommittedSeq("p", "boot"), 3u);
  EXPECT_EQ(Submit(a.get(), "p", "boot", Seqs(4, 9)).stored, 6);
  // Back on b: its Welcome says 9, read from probe_boots.
  EXPECT_EQ(b->CommittedSeq("p", "boot"), 9u);
  CommitInfo more = Submit(b.get(), "p", "boot", Seqs(8, 12));
  EXPECT_EQ(more.stored, 3);
  EXPECT_EQ(more.duplicates, 2);
  EXPECT_EQ(more.committed_seq, 12u);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results"), 12);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(DISTINCT seq) FROM results"), 12);

  // latest_results: the newest of the pair, from whichever collector.
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM latest_results"), 1);
  EXPECT_EQ(QueryInt(db_, "SELECT seq FROM latest_results"), 12);
  // An older result (a later boot's clock behind) does not replace it.
  std::vector<v1::CheckResult> old_one = {Result(1, 5)};
  EXPECT_EQ(Submit(a.get(), "p", "boot2", old_one).stored, 1);
  EXPECT_EQ(QueryInt(db_, "SELECT seq FROM latest_results"), 12);
  std::vector<v1::CheckResult> two_targets = {Result(1, 50000, "t1"), Result(2, 50001, "t2")};
  EXPECT_EQ(Submit(a.get(), "q", "boot", two_targets).stored, 2);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM latest_results"), 3);

  PgCoordinator reader(server_->Dsn(db_), "test:1");
  std::vector<LatestResultRecord> rows;
  int64_t newest = 0;
  ASSERT_TRUE(reader.LatestSince(std::numeric_limits<int64_t>::min(), &rows, &newest).ok());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_GT(newest, 0);
  std::map<std::string, uint64_t> seen;
  for (const LatestResultRecord& r : rows) seen[r.probe + "/" + r.result.target()] = r.result.seq();
  EXPECT_EQ(seen["p/t1"], 12u);
  EXPECT_EQ(seen["q/t1"], 1u);
  EXPECT_EQ(seen["q/t2"], 2u);
  ASSERT_TRUE(reader.LatestSince(newest + 1, &rows, &newest).ok());
  EXPECT_TRUE(rows.empty());

  // A poll after new submissions reads exactly the pairs they changed, each
  // once with its newest result (latest_changes, schema version 4).
  const int64_t before = newest;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(Submit(a.get(), "q", "boot", {Result(3, 50002, "t2")}).stored, 1);
  EXPECT_EQ(Submit(b.get(), "q", "boot", {Result(4, 50003, "t2")}).stored, 1);
  ASSERT_TRUE(reader.LatestSince(before + 1, &rows, &newest).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].probe, "q");
  EXPECT_EQ(rows[0].result.target(), "t2");
  EXPECT_EQ(rows[0].result.seq(), 4u);
  EXPECT_GT(newest, before);
  // The poll prunes what lies a minute behind its window, nothing newer.
  EXPECT_GT(QueryInt(db_, "SELECT COUNT(*) FROM latest_changes"), 0);
  ASSERT_TRUE(reader.LatestSince(newest + 1, &rows, &newest).ok());
  EXPECT_GT(QueryInt(db_, "SELECT COUNT(*) FROM latest_changes"), 0);
  ASSERT_TRUE(reader.LatestSince(newest + 1 + PgCoordinator::kChangesKeptMs, &rows, &newest).ok());
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM latest_changes"), 0);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM latest_results"), 3);
}

// What keeps ingest fast (issue 16): latest_results has its primary key and
// no other index, so replacing a pair's newest result is a HOT update (no
// index written). Counted by the server's own statistics.
TEST_F(PostgresStoreTest, EveryLatestResultsUpsertIsAHotUpdate) {
  options_.compaction = true;
  Open();
  // A first submission of 450 pairs: logged in rows of at most 200 targets
  // (never compressed or moved out of line).
  std::vector<v1::CheckResult> many;
  for (int t = 0; t < 450; ++t) many.push_back(Result(t + 1, 9000, "t" + std::to_string(t)));
  EXPECT_EQ(Submit(store_.get(), "p", "boot", many).stored, 450);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM latest_changes"), 3);
  EXPECT_EQ(QueryInt(db_, "SELECT MAX(cardinality(target_ids)) FROM latest_changes"), 200);
  EXPECT_EQ(QueryInt(db_, "SELECT SUM(cardinality(target_ids)) FROM latest_changes"), 450);
  constexpr int kSubmissions = 30;
  for (int i = 1; i <= kSubmissions; ++i) {
    EXPECT_EQ(
        Submit(store_.get(), "p", "boot",
               {Result(450 + 2 * i - 1, 10000 + i, "t1"), Result(450 + 2 * i, 10000 + i, "t2")})
            .stored,
        2);
  }
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'latest_results'"), 1);
  // A backend reports its counts when idle, within about ten seconds.
  const std::string upd =
      "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'latest_results'";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (QueryInt(db_, upd) < 2 * kSubmissions && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(QueryInt(db_, upd), 2 * kSubmissions);
  EXPECT_EQ(QueryInt(db_,
                     "SELECT n_tup_hot_upd FROM pg_stat_user_tables"
                     " WHERE relname = 'latest_results'"),
            2 * kSubmissions);
}

// A database at schema version 3 (before latest_changes) migrates to 4 with
// its newest results kept and logged, so a leader's next poll sees them.
TEST_F(PostgresStoreTest, MigrationToVersionFourKeepsAndLogsTheNewestResults) {
  Open();
  EXPECT_EQ(
      Submit(store_.get(), "p", "boot", {Result(1, 5000, "t1"), Result(2, 5001, "t2")}).stored, 2);
  store_.reset();
  // Back to version 3, as an older collector left it.
  ASSERT_TRUE(server_
                  ->Exec(db_, std::string(testing::kPgUndoSchema4Sql) +
                                  " CREATE INDEX latest_results_target ON latest_results"
                                  " (target_id); DELETE FROM schema_version WHERE version = 4")
                  .ok());
  ASSERT_EQ(QueryInt(db_, "SELECT MAX(version) FROM schema_version"), 3);
  Open();
  EXPECT_EQ(QueryInt(db_, "SELECT MAX(version) FROM schema_version"), 4);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'latest_results'"), 1);
  EXPECT_EQ(QueryInt(db_,
                     "SELECT COUNT(*) FROM pg_class WHERE relname = 'latest_results'"
                     " AND 'fillfactor=50' = ANY (reloptions)"),
            1);
  PgCoordinator reader(server_->Dsn(db_), "test:1");
  std::vector<LatestResultRecord> rows;
  int64_t newest = 0;
  ASSERT_TRUE(reader.LatestSince(0, &rows, &newest).ok());
  EXPECT_EQ(rows.size(), 2u);
}

// The leader lock: one holder; it moves when the holder's session ends, and
// followers read who leads.
TEST_F(PostgresStoreTest, LeaderLockHasOneHolderAndMovesWhenItsSessionEnds) {
  Open();  // migrates
  PgCoordinator one(server_->Dsn(db_), "one:7420"), two(server_->Dsn(db_), "two:7420");
  EXPECT_TRUE(one.TryLead(1000));
  EXPECT_FALSE(two.TryLead(1000));
  EXPECT_TRUE(one.TryLead(2000));  // still holds it
  EXPECT_FALSE(two.TryLead(2000));
  std::string who;
  int64_t since = 0, heartbeat = 0;
  ASSERT_TRUE(two.ReadLeader(&who, &since, &heartbeat).ok());
  EXPECT_EQ(who, "one:7420");
  EXPECT_EQ(since, 1000);
  EXPECT_EQ(heartbeat, 2000);
  one.Release();  // its session ends (as when the process dies)
  // The server releases the lock when that backend has exited (moments).
  bool took = false;
  for (int i = 0; i < 100 && !took; ++i) {
    took = two.TryLead(3000);
    if (!took) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(took);
  EXPECT_FALSE(one.TryLead(3000));
  ASSERT_TRUE(one.ReadLeader(&who, &since, &heartbeat).ok());
  EXPECT_EQ(who, "two:7420");
  EXPECT_EQ(since, 3000);

  // Probe sessions: refreshed rows are read, stale ones are not.
  ASSERT_TRUE(one.PublishSessions({{"p1", "", {{"network", "a"}}, "v", "b1", 900, 0}}, 3000).ok());
  std::vector<ProbeSessionRecord> sessions;
  ASSERT_TRUE(two.ReadSessions(2500, &sessions).ok());
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].collector, "one:7420");
  EXPECT_EQ(sessions[0].labels.at("network"), "a");
  ASSERT_TRUE(two.ReadSessions(3500, &sessions).ok());
  EXPECT_TRUE(sessions.empty());
}

// Retention drops whole expired partitions (no row-by-row delete), deletes
// the older rows of the partition holding the cutoff, and keeps the rest;
// partitions ahead of now exist before any result lands there.
TEST_F(PostgresStoreTest, RetentionDropsExpiredPartitions) {
  options_.partition_width = std::chrono::hours(1);
  options_.retention = std::chrono::hours(2);
  options_.retention_sweep_every = std::chrono::milliseconds(50);
  Open();
  const int64_t now = WallClockMs();
  const int64_t hour = 3600 * 1000;
  std::vector<v1::CheckResult> rs;
  uint64_t seq = 0;
  for (int64_t age : {10 * hour, 6 * hour, 2 * hour + 60 * 1000, 0L}) {
    for (int i = 0; i < 5; ++i) rs.push_back(Result(++seq, now - age - i));
  }
  // Written while the sweep at start may already run: wait for it to settle.
  ASSERT_EQ(Submit(store_.get(), "p1", "b", rs).stored, 20);
  const std::string p10 = pg::PartitionName(pg::PartitionStart(now - 10 * hour, hour));
  const std::string p6 = pg::PartitionName(pg::PartitionStart(now - 6 * hour, hour));
  bool done = false;
  for (int i = 0; i < 500 && !done; ++i) {  // at most ~10 s
    done = QueryInt(db_, "SELECT COUNT(*) FROM results") == 5 &&
           QueryInt(db_, "SELECT COUNT(*) FROM pg_class WHERE relname IN ('" + p10 + "', '" + p6 +
                             "')") == 0;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(done) << "results left: " << QueryInt(db_, "SELECT COUNT(*) FROM results");
  EXPECT_EQ(QueryInt(db_, "SELECT MIN(seq) FROM results"), 16);
  const std::string ahead = pg::PartitionName(pg::PartitionStart(now, hour) + 2 * hour);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM pg_class WHERE relname = '" + ahead + "'"), 1);
  // The dedupe state outlives the rows.
  EXPECT_EQ(Submit(store_.get(), "p1", "b", rs).duplicates, 20);
  std::vector<std::map<std::string, std::vector<std::string>>> unused;
}

TEST_F(PostgresStoreTest, HostKeyPinsRoundTrip) {
  Open();
  ASSERT_TRUE(store_->SaveHostKeyPins("t1", {"SHA256:a", "SHA256:b"}, 5).ok());
  ASSERT_TRUE(store_->SaveHostKeyPins("t2", {"SHA256:c"}, 6).ok());
  ASSERT_TRUE(store_->SaveHostKeyPins("t2", {}, 7).ok());
  std::map<std::string, std::vector<std::string>> pins;
  ASSERT_TRUE(store_->LoadHostKeyPins(&pins).ok());
  EXPECT_EQ(pins,
            (std::map<std::string, std::vector<std::string>>{{"t1", {"SHA256:a", "SHA256:b"}}}));
}

// Bytes a probe or server may send that PostgreSQL's TEXT cannot hold (NUL,
// invalid UTF-8) are stored escaped instead of failing the batch forever.
TEST_F(PostgresStoreTest, TextPostgresCannotHoldIsEscapedNotRefused) {
  Open();
  v1::CheckResult r = Result(1, 1000);
  r.set_identification(std::string("SSH-2.0-x\0y\xff", 12));
  CommitInfo info = Submit(store_.get(), "p1", "b", {r});
  ASSERT_TRUE(info.status.ok()) << info.status.ToString();
  std::vector<ResultRow> rows;
  ASSERT_TRUE(store_->History("t1", "", 0, 0, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result.identification(), "SSH-2.0-x\\x00y\\xff");
  // The leader's poll skips the one newest result that does not parse back
  // and still reads the others.
  EXPECT_EQ(Submit(store_.get(), "p2", "b", {Result(1, 1000)}).stored, 1);
  PgCoordinator reader(server_->Dsn(db_), "test:1");
  std::vector<LatestResultRecord> latest;
  int64_t newest = 0;
  ASSERT_TRUE(reader.LatestSince(0, &latest, &newest).ok());
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].probe, "p2");
}

TEST(PostgresConfigTest, BadDriverAndDsnErrorsNameTheFieldAndNeverThePassword) {
  StoreOptions o;
  std::unique_ptr<Store> store;
  o.driver = "mysql";
  Status s = Store::Open(o, &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("storage.driver \"mysql\""), std::string::npos) << s.ToString();

  o.driver = "postgres";
  for (const std::string dsn :
       {"host=127.0.0.1 port=1 dbname=x password=hunter2 connect_timeout=2",
        "nonsense_key=1 password='hunter2'", "postgresql://u:hunter2@127.0.0.1:1/x",
        "postgresql://u:hun%zzter2@127.0.0.1/x", "postgresql://u:hunter2@127.0.0.1:nan/x",
        "host=127.0.0.1 port=1 password = hunter2"}) {
    o.dsn = dsn;
    s = Store::Open(o, &store);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("storage.dsn"), std::string::npos) << s.ToString();
    EXPECT_EQ(s.ToString().find("hunter2"), std::string::npos) << s.ToString();
  }
  o.dsn = "";
  s = Store::Open(o, &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("storage.dsn"), std::string::npos) << s.ToString();
  EXPECT_EQ(pg::RedactDsn("host=h password=p1 user=u"), "host=h password=*** user=u");
  EXPECT_EQ(pg::RedactDsn("postgres://u:p1@h/db?password=p2"),
            "postgres://u:***@h/db?password=***");
}

}  // namespace
}  // namespace parallax::collector
