#include "collector/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "collector/store/pg_util.h"
#include "collector/store/reader.h"
#include "collector/store/schema.h"
#include "collector/store/testing/store_test_db.h"
#include "common/clock.h"
#include "common/words.h"

namespace parallax::collector {
namespace {

int64_t NowMs() { return WallClockMs(); }

v1::CheckResult Result(uint64_t seq, const std::string& target, int64_t ts_ms,
                       v1::Outcome outcome = v1::OUTCOME_OK) {
  v1::CheckResult r;
  r.set_seq(seq);
  r.set_target(target);
  r.set_started_unix_ms(ts_ms);
  r.set_outcome(outcome);
  return r;
}

std::vector<v1::CheckResult> Seqs(uint64_t from, uint64_t to, const std::string& target = "t1") {
  std::vector<v1::CheckResult> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(Result(s, target, 1000 + s));
  return out;
}

// A raw second connection to the database, for checks behind the Store.
// Int/Texts/Exec take SQL both engines understand.
class RawDb {
 public:
  virtual ~RawDb() = default;
  virtual int64_t Int(const std::string& sql) = 0;
  virtual std::vector<std::string> Texts(const std::string& sql, int col = 0) = 0;
  // 0 (SQLITE_OK) on success.
  virtual int Exec(const std::string& sql) = 0;
};

class SqliteRawDb : public RawDb {
 public:
  explicit SqliteRawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~SqliteRawDb() override { sqlite3_close(db_); }
  int64_t Int(const std::string& sql) override {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_) << " in " << sql;
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  std::vector<std::string> Texts(const std::string& sql, int col = 0) override {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_) << " in " << sql;
    std::vector<std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, col);
      out.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    sqlite3_finalize(st);
    return out;
  }
  int Exec(const std::string& sql) override {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

// Reconnects when the server was restarted under it.
class PgRawDb : public RawDb {
 public:
  explicit PgRawDb(const std::string& dsn) : dsn_(dsn) {}
  int64_t Int(const std::string& sql) override {
    std::vector<std::string> v = Texts(sql);
    return v.empty() || v[0] == "NULL" ? -1 : std::stoll(v[0]);
  }
  std::vector<std::string> Texts(const std::string& sql, int col = 0) override {
    pg::Result r;
    Status s = Run(sql, &r);
    EXPECT_TRUE(s.ok()) << s.ToString() << " in " << sql;
    std::vector<std::string> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(r.IsNull(i, col) ? "NULL" : r.Text(i, col));
    return out;
  }
  int Exec(const std::string& sql) override { return Run(sql, nullptr).ok() ? 0 : 1; }

 private:
  Status Run(const std::string& sql, pg::Result* r) {
    if (!conn_.Healthy()) {
      Status s = conn_.Connect(dsn_, 5);
      if (!s.ok()) return s;
    }
    return conn_.Exec(sql, r);
  }
  std::string dsn_;
  pg::Conn conn_;
};

// EXPLAIN QUERY PLAN of `sql` has no full scan of results (aliases r and x)
// and uses `index`.
void ExpectIndexedPlan(SqliteRawDb* raw, const std::string& sql, const std::string& index) {
  std::vector<std::string> plan = raw->Texts("EXPLAIN QUERY PLAN " + sql, 3);
  std::string joined;
  for (const auto& line : plan) joined += line + "\n";
  for (const auto& line : plan) {
    EXPECT_NE(line.rfind("SCAN r", 0), 0u) << "full scan of results:\n" << joined;
    EXPECT_NE(line.rfind("SCAN x", 0), 0u) << "full scan of results:\n" << joined;
  }
  EXPECT_NE(joined.find("SEARCH"), std::string::npos) << joined;
  EXPECT_NE(joined.find(index), std::string::npos) << joined;
}

bool WaitForCount(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 500; ++i) {  // at most ~5 s
    if (n.load() >= want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The fixture of both suites: a fresh database per test, SQLite (a file in
// a temp dir) or PostgreSQL (a new database on the process's shared server).
class StoreTestBase : public ::testing::Test {
 protected:
  explicit StoreTestBase(std::string driver) : driver_(std::move(driver)) {}
  void SetUp() override {
    // Test results carry small synthetic timestamps: keep them all, except in
    // the retention test.
    options_.retention = std::chrono::milliseconds(0);
    options_.incident_retention = std::chrono::milliseconds(0);
    options_.change_retention = std::chrono::milliseconds(0);
    // Most tests count stored result rows: every result whole. The run
    // compaction tests (the default in production) turn it on.
    options_.compaction = false;
    options_.driver = driver_;
    if (driver_ == "postgres") {
      ASSERT_NO_FATAL_FAILURE(UsePostgres(&options_));
      return;
    }
    std::string tmpl = ::testing::TempDir() + "/parallax_store_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    options_.path = dir_ + "/parallax.db";
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void OpenStore() {
    store_.reset();
    Status s = Store::Open(options_, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<RawDb> Raw() {
    if (driver_ == "postgres") return std::make_unique<PgRawDb>(options_.dsn);
    return std::make_unique<SqliteRawDb>(options_.path);
  }

  CommitInfo Submit(const std::string& probe, const std::string& boot,
                    std::vector<v1::CheckResult> results) {
    std::promise<CommitInfo> done;
    auto f = done.get_future();
    store_->SubmitResults(probe, boot, std::move(results),
                          [&done](const CommitInfo& info) { done.set_value(info); });
    EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return f.get();
  }

  std::vector<ResultRow> History(const std::string& target, const std::string& probe = "",
                                 int64_t since = 0, size_t limit = 0) {
    std::vector<ResultRow> rows;
    Status s = store_->History(target, probe, since, limit, &rows);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return rows;
  }

  const std::string driver_;
  std::string dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

// SQLite only: its file, pragmas, query plans and lock-based failures.
class StoreTest : public StoreTestBase {
 protected:
  StoreTest() : StoreTestBase("sqlite") {}
};

// The Store contract, run against every driver (INSTANTIATE below).
class StoreContractTest : public StoreTestBase, public ::testing::WithParamInterface<std::string> {
 protected:
  StoreContractTest() : StoreTestBase(GetParam()) {}
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest, ::testing::Values("postgres"));

TEST_F(StoreTest, SchemaCreatedAndVersionRecorded) {
  OpenStore();
  SqliteRawDb raw(options_.path);
  EXPECT_EQ(raw.Int("SELECT MAX(version) FROM schema_version"), KnownSchemaVersion());
  EXPECT_GE(KnownSchemaVersion(), 1);
  EXPECT_EQ(raw.Texts("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  for (const char* name : {"probes", "targets", "probe_boots", "results", "results_v",
                           "results_probe_target_ts", "results_target_ts", "results_ts", "runs",
                           "runs_v", "latest_results", "runs_probe_target", "runs_first"}) {
    EXPECT_EQ(
        raw.Int(std::string("SELECT COUNT(*) FROM sqlite_master WHERE name = '") + name + "'"), 1)
        << name;
  }
  // Reopening an up-to-date database applies nothing new.
  OpenStore();
  EXPECT_EQ(raw.Int("SELECT COUNT(*) FROM schema_version"), KnownSchemaVersion());
}

TEST_P(StoreContractTest, ReopenKeepsDataAndDedupeState) {
  OpenStore();
  CommitInfo first = Submit("p1", "boot-a", Seqs(1, 10));
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.stored, 10);
  EXPECT_EQ(first.committed_seq, 10u);

  OpenStore();
  EXPECT_EQ(store_->CommittedSeq("p1", "boot-a"), 10u);
  CommitInfo again = Submit("p1", "boot-a", Seqs(1, 15));
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.stored, 5);
  EXPECT_EQ(again.duplicates, 10);
  EXPECT_EQ(again.committed_seq, 15u);
  EXPECT_EQ(History("t1").size(), 15u);
  auto raw = Raw();
  EXPECT_EQ(raw->Int("SELECT COUNT(DISTINCT seq) FROM results"), 15);
}

TEST_P(StoreContractTest, OutOfOrderAndDuplicatesWithinOneSubmission) {
  OpenStore();
  std::vector<v1::CheckResult> rs;
  for (uint64_t s : {3, 1, 2, 2, 5, 4}) rs.push_back(Result(s, "t1", 1000 + s));
  CommitInfo info = Submit("p1", "b", rs);
  ASSERT_TRUE(info.status.ok());
  EXPECT_EQ(info.stored, 5);
  EXPECT_EQ(info.duplicates, 1);
  EXPECT_EQ(info.committed_seq, 5u);

  // Seq 0 and seqs at or below the committed max are duplicates.
  rs.clear();
  for (uint64_t s : {0, 5, 6}) rs.push_back(Result(s, "t1", 2000 + s));
  info = Submit("p1", "b", rs);
  EXPECT_EQ(info.stored, 1);
  EXPECT_EQ(info.duplicates, 2);
  EXPECT_EQ(info.committed_seq, 6u);
  EXPECT_EQ(History("t1").size(), 6u);
}

TEST_P(StoreContractTest, TwoBootsOfOneProbeAreIndependent) {
  OpenStore();
  EXPECT_EQ(Submit("p1", "old", Seqs(1, 20)).stored, 20);
  CommitInfo fresh = Submit("p1", "new", Seqs(1, 3));
  EXPECT_EQ(fresh.stored, 3);
  EXPECT_EQ(fresh.duplicates, 0);
  EXPECT_EQ(fresh.committed_seq, 3u);
  EXPECT_EQ(store_->CommittedSeq("p1", "old"), 20u);
  EXPECT_EQ(store_->CommittedSeq("p1", "new"), 3u);
  EXPECT_EQ(store_->CommittedSeq("p2", "old"), 0u);
  EXPECT_EQ(store_->CommittedSeq("p1", "unknown"), 0u);
}

TEST_P(StoreContractTest, CallbackRunsAfterCommitIsVisible) {
  OpenStore();
  auto raw = Raw();
  std::promise<std::pair<int64_t, uint64_t>> seen;
  auto f = seen.get_future();
  store_->SubmitResults("p1", "b", Seqs(1, 7), [&](const CommitInfo& info) {
    // Another connection already sees the committed rows.
    seen.set_value({raw->Int("SELECT COUNT(*) FROM results"), store_->CommittedSeq("p1", "b")});
  });
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto [rows, seq] = f.get();
  EXPECT_EQ(rows, 7);
  EXPECT_EQ(seq, 7u);
}

TEST_P(StoreContractTest, ResultFieldsRoundTripAndUnknownTargetCreated) {
  OpenStore();
  v1::CheckResult r = Result(1, "never-configured", 1234567, v1::OUTCOME_NOT_SSH);
  r.set_connect_us(1500);
  r.set_banner_us(250);
  r.set_address("127.0.0.1:22");
  r.set_error_number(104);
  r.set_identification("");
  r.add_pre_banner("HTTP/1.1 400 Bad Request");
  r.add_pre_banner("with \"quotes\" and \\ backslash");
  r.set_detail("not an SSH server");
  r.mutable_liveness()->set_icmp_attempted(true);
  r.mutable_liveness()->set_icmp_rtt_us(321);
  auto* port = r.mutable_liveness()->add_ports();
  port->set_port(443);
  port->set_outcome(v1::OUTCOME_OK);
  r.set_late_us(77);
  ASSERT_TRUE(Submit("p1", "b", {r}).status.ok());

  std::vector<ResultRow> rows = History("never-configured");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].probe, "p1");
  EXPECT_EQ(rows[0].boot_id, "b");
  EXPECT_EQ(rows[0].target, "never-configured");
  EXPECT_EQ(rows[0].result.SerializeAsString(), r.SerializeAsString())
      << rows[0].result.DebugString() << "\nvs\n"
      << r.DebugString();

  auto raw = Raw();
  EXPECT_EQ(raw->Texts("SELECT outcome FROM results_v"),
            std::vector<std::string>{std::string(OutcomeWord(v1::OUTCOME_NOT_SSH))});
  EXPECT_EQ(raw->Texts("SELECT probe || '|' || target || '|' || seq FROM results_v"),
            std::vector<std::string>{"p1|never-configured|1"});
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM targets WHERE name = 'never-configured'"), 1);
}

TEST_P(StoreContractTest, RecordProbeAndSyncTargetsUpsert) {
  OpenStore();
  store_->RecordProbe({"p1", {{"site", "fra"}}, "0.1.0", 1000, 2000});
  store_->RecordProbe({"p1", {{"site", "ams"}, {"net", "x"}}, "0.2.0", 1500, 3000});
  store_->RecordProbe({"p0", {}, "0.1.0", 500, 600});
  store_->SyncTargets({{"t1", "127.0.0.1", 2222, {{"env", "prod"}}}, {"t2", "::1", 22, {}}});
  store_->SyncTargets({{"t1", "localhost", 22, {}}});
  store_->Flush();

  std::vector<ProbeRecord> probes;
  ASSERT_TRUE(store_->ListProbes(&probes).ok());
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_EQ(probes[0].name, "p0");
  EXPECT_EQ(probes[1].name, "p1");
  EXPECT_EQ(probes[1].labels, (std::map<std::string, std::string>{{"net", "x"}, {"site", "ams"}}));
  EXPECT_EQ(probes[1].version, "0.2.0");
  EXPECT_EQ(probes[1].first_seen_ms, 1000);
  EXPECT_EQ(probes[1].last_seen_ms, 3000);

  auto raw = Raw();
  EXPECT_EQ(raw->Texts("SELECT name || ' ' || host || ' ' || port || ' ' || labels FROM targets"
                       " ORDER BY name"),
            (std::vector<std::string>{"t1 localhost 22 {}", "t2 ::1 22 {}"}));
}

TEST_P(StoreContractTest, LatestResultsReturnsNewestPerPairUsingTheIndex) {
  OpenStore();
  const int64_t base = 1'000'000;
  uint64_t seq = 0;
  std::vector<v1::CheckResult> p1, p2;
  for (int i = 0; i < 20; ++i) {
    // p1 checks t1 and t2; p2 only t1. Newest results get distinct outcomes.
    p1.push_back(
        Result(++seq, "t1", base + i * 10, i == 19 ? v1::OUTCOME_REFUSED : v1::OUTCOME_OK));
    p1.push_back(
        Result(++seq, "t2", base + i * 10 + 1, i == 19 ? v1::OUTCOME_TIMEOUT : v1::OUTCOME_OK));
  }
  for (int i = 0; i < 20; ++i) {
    p2.push_back(Result(i + 1, "t1", base + 500 - i * 10));  // newest first on the wire
  }
  p2[0].set_outcome(v1::OUTCOME_RESET);
  ASSERT_TRUE(Submit("p1", "b", p1).status.ok());
  ASSERT_TRUE(Submit("p2", "b", p2).status.ok());

  std::vector<ResultRow> rows;
  ASSERT_TRUE(store_->LatestResults(&rows).ok());
  ASSERT_EQ(rows.size(), 3u);
  std::map<std::pair<std::string, std::string>, v1::CheckResult> got;
  for (const auto& row : rows) got[{row.probe, row.target}] = row.result;
  auto at = [&](const std::string& probe, const std::string& target) {
    return got[{probe, target}];
  };
  EXPECT_EQ(at("p1", "t1").started_unix_ms(), base + 190);
  EXPECT_EQ(at("p1", "t1").outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(at("p1", "t2").started_unix_ms(), base + 191);
  EXPECT_EQ(at("p1", "t2").outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(at("p2", "t1").started_unix_ms(), base + 500);
  EXPECT_EQ(at("p2", "t1").outcome(), v1::OUTCOME_RESET);

  // SQLite: both queries search the indexes, with and without planner
  // statistics. (PostgreSQL's planner picks per partition and data size.)
  if (driver_ != "sqlite") return;
  SqliteRawDb raw(options_.path);
  for (bool analyzed : {false, true}) {
    if (analyzed) {
      ASSERT_EQ(raw.Exec("ANALYZE"), SQLITE_OK);
    }
    // The newest results are their own table (one row per pair): no
    // results lookup at all.
    EXPECT_EQ(LatestResultsSql().find("FROM results"), std::string::npos);
    ExpectIndexedPlan(&raw, HistorySql(), "results_target_ts");
    ExpectIndexedPlan(&raw, RunsSql(), "runs_target_first");
  }
}

// `parallax check` results: stored and shown in History with their id, never
// the newest result LatestResults seeds the live state with at start-up.
TEST_P(StoreContractTest, AdHocResultsAreHistoryOnly) {
  OpenStore();
  std::vector<v1::CheckResult> rs = {Result(1, "t1", 1000), Result(2, "t1", 2000),
                                     Result(3, "adhoc.example", 3000)};
  rs[1].set_adhoc_id("abc-1");  // a check of a host that is also a configured target
  rs[1].set_outcome(v1::OUTCOME_TIMEOUT);
  rs[2].set_adhoc_id("abc-2");
  ASSERT_TRUE(Submit("p1", "b", rs).status.ok());
  std::vector<ResultRow> rows;
  ASSERT_TRUE(store_->LatestResults(&rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result.seq(), 1u);
  EXPECT_TRUE(rows[0].result.adhoc_id().empty());
  ASSERT_TRUE(store_->History("t1", "", 0, 0, &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].result.adhoc_id(), "abc-1");
  ASSERT_TRUE(store_->History("adhoc.example", "", 0, 0, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result.adhoc_id(), "abc-2");
}

TEST_P(StoreContractTest, HistoryNewestFirstWithFilters) {
  OpenStore();
  std::vector<v1::CheckResult> p1, p2;
  for (uint64_t i = 1; i <= 10; ++i) {
    p1.push_back(Result(i, "t1", 100 * i));
    p2.push_back(Result(i, "t1", 100 * i + 50));
  }
  p1.push_back(Result(11, "t2", 5000));
  ASSERT_TRUE(Submit("p1", "b", p1).status.ok());
  ASSERT_TRUE(Submit("p2", "b", p2).status.ok());

  std::vector<ResultRow> all = History("t1");
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_GT(all[i - 1].result.started_unix_ms(), all[i].result.started_unix_ms());
  }
  EXPECT_EQ(all[0].probe, "p2");
  EXPECT_EQ(all[0].result.started_unix_ms(), 1050);

  std::vector<ResultRow> limited = History("t1", "", 0, 3);
  ASSERT_EQ(limited.size(), 3u);
  EXPECT_EQ(limited[2].result.started_unix_ms(), 950);

  std::vector<ResultRow> only_p1 = History("t1", "p1");
  ASSERT_EQ(only_p1.size(), 10u);
  for (const auto& row : only_p1) EXPECT_EQ(row.probe, "p1");

  std::vector<ResultRow> since = History("t1", "p1", 800);
  ASSERT_EQ(since.size(), 3u);  // 800, 900, 1000
  EXPECT_EQ(since.back().result.started_unix_ms(), 800);

  EXPECT_TRUE(History("no-such-target").empty());
  EXPECT_EQ(History("t2").size(), 1u);
}

TEST_P(StoreContractTest, RetentionDeletesOldRowsAndKeepsNew) {
  options_.retention = std::chrono::hours(1);
  options_.retention_sweep_every = std::chrono::milliseconds(20);
  options_.retention_chunk_rows = 7;  // several chunks per sweep
  OpenStore();
  const int64_t now = NowMs();
  std::vector<v1::CheckResult> rs;
  for (uint64_t i = 1; i <= 50; ++i) rs.push_back(Result(i, "t1", now - 2 * 3600 * 1000 - i));
  for (uint64_t i = 51; i <= 55; ++i) rs.push_back(Result(i, "t1", now + i));
  ASSERT_EQ(Submit("p1", "b", rs).stored, 55);

  size_t left = 0;
  for (int i = 0; i < 1000; ++i) {  // at most ~10 s
    left = History("t1").size();
    if (left == 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<ResultRow> kept = History("t1");
  ASSERT_EQ(kept.size(), 5u);
  for (const auto& row : kept) EXPECT_GT(row.result.seq(), 50u);
  // Dedupe state survives the deletion of the rows.
  EXPECT_EQ(Submit("p1", "b", Seqs(1, 55)).duplicates, 55);
}

// Issue 14: retention ran only when the write queue was empty (starved
// under load) and only over results.
TEST_P(StoreContractTest, RetentionAdvancesUnderLoadAndCoversClosedIncidents) {
  options_.retention = std::chrono::hours(1);
  options_.incident_retention = std::chrono::hours(1);
  options_.retention_sweep_every = std::chrono::milliseconds(20);
  options_.retention_chunk_rows = 7;  // many chunks per sweep
  OpenStore();
  const int64_t now = NowMs();
  const int64_t old = now - 2 * 3600 * 1000;
  std::vector<v1::CheckResult> rs;
  for (uint64_t i = 1; i <= 200; ++i) rs.push_back(Result(i, "t1", old - static_cast<int64_t>(i)));
  ASSERT_EQ(Submit("p1", "b", rs).stored, 200);
  // A probe last seen long ago whose results are all old: expires with its boot.
  store_->RecordProbe({"gone", {}, "v1", old - 5000, old - 5000});
  ASSERT_EQ(Submit("gone", "gb", {Result(1, "t1", old - 1), Result(2, "t1", old - 2)}).stored, 2);
  store_->OpenIncident("t1", v1::CAUSE_HOST_OFFLINE, old - 1000, "old");
  store_->CloseIncident("t1", old, "back");
  store_->OpenIncident("t2", v1::CAUSE_HOST_OFFLINE, old - 1000, "still open");
  store_->OpenIncident("t3", v1::CAUSE_HOST_OFFLINE, now - 1000, "recent");
  store_->CloseIncident("t3", now, "back");

  // Keep the queue busy with new results from another thread.
  std::atomic<bool> stop{false};
  std::atomic<int> inflight{0};
  std::thread load([&] {
    uint64_t seq = 1;
    while (!stop) {
      if (inflight < 50) {
        ++inflight;
        std::vector<v1::CheckResult> batch;
        for (int k = 0; k < 20; ++k, ++seq) batch.push_back(Result(seq, "t9", NowMs()));
        store_->SubmitResults("load", "b", std::move(batch),
                              [&](const CommitInfo&) { --inflight; });
      } else {
        std::this_thread::yield();
      }
    }
  });
  auto raw = Raw();
  bool drained = false;
  for (int i = 0; i < 1000 && !drained; ++i) {  // at most ~10 s
    drained = raw->Int(
                  "SELECT COUNT(*) FROM results r JOIN probes p ON p.id = r.probe_id"
                  " WHERE p.name = 'p1'") == 0 &&
              raw->Int("SELECT COUNT(*) FROM incidents") == 2 &&
              raw->Int("SELECT COUNT(*) FROM probes WHERE name = 'gone'") == 0;
    if (!drained) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  load.join();
  store_->Flush();
  EXPECT_TRUE(drained) << "old results left: "
                       << raw->Int("SELECT COUNT(*) FROM results WHERE ts_ms < " +
                                   std::to_string(old + 1));
  // The old closed incident is gone with its changes; the open one and the
  // recent one stay.
  EXPECT_EQ(raw->Texts("SELECT summary FROM incidents ORDER BY id").size(), 2u);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM incident_changes WHERE incident_id NOT IN"
                     " (SELECT id FROM incidents)"),
            0);
  EXPECT_GT(raw->Int("SELECT COUNT(*) FROM results r JOIN probes p ON p.id = r.probe_id"
                     " WHERE p.name = 'load'"),
            0);
  // The expired probe's boot went with it; probes with recent activity stay.
  EXPECT_EQ(store_->CommittedSeq("gone", "gb"), 0u);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM probe_boots WHERE boot_id = 'gb'"), 0);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM probes WHERE name IN ('p1', 'load')"), 2);
  // It may come back: a new submission is stored from scratch.
  EXPECT_EQ(Submit("gone", "gb", {Result(3, "t1", NowMs())}).stored, 1);
}

TEST_F(StoreTest, StatsReportErrorsSizesAndRetentionLag) {
  options_.busy_timeout = std::chrono::milliseconds(50);
  options_.busy_retry = std::chrono::milliseconds(0);
  options_.retention = std::chrono::hours(1);
  options_.retention_sweep_every = std::chrono::hours(1);  // only the sweep at start
  options_.stats_every = std::chrono::milliseconds(50);
  std::atomic<int> commits{0}, refreshes{0};
  options_.on_commit = [&](double seconds) {
    EXPECT_GE(seconds, 0.0);
    ++commits;
  };
  options_.on_stats = [&](const StoreStats&) { ++refreshes; };
  OpenStore();
  // The sweep at start is over once the writer thread refreshed the stats.
  ASSERT_TRUE(WaitForCount(refreshes, 2));
  const int64_t two_hours_ago = NowMs() - 2 * 3600 * 1000;
  ASSERT_TRUE(Submit("p1", "b", {Result(1, "t1", two_hours_ago)}).status.ok());
  {
    SqliteRawDb raw(options_.path);
    ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);
    EXPECT_FALSE(Submit("p1", "b", Seqs(2, 3)).status.ok());
    ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  }
  const int before = refreshes.load();
  ASSERT_TRUE(WaitForCount(refreshes, before + 2));
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.errors["busy"], 1u);
  EXPECT_EQ(st.commits, 1u) << "the failed transaction is not a commit";
  EXPECT_GE(commits.load(), 1);
  EXPECT_GT(st.commit_seconds_sum, 0.0);
  EXPECT_GT(st.database_bytes, 0);
  EXPECT_GE(st.wal_bytes, 0);
  EXPECT_GT(st.free_bytes, 0);
  EXPECT_NEAR(st.retention_lag_seconds, 3600, 60);
}

TEST_F(StoreTest, DamagedDatabaseIsRefusedWithARecoveryHint) {
  OpenStore();
  std::vector<v1::CheckResult> rs;
  for (uint64_t i = 1; i <= 3000; ++i) {
    v1::CheckResult r = Result(i, "t" + std::to_string(i % 7), 1000 + i);
    r.set_detail(std::string(100, 'd'));
    rs.push_back(r);
  }
  ASSERT_EQ(Submit("p1", "b", rs).stored, 3000);
  store_.reset();  // the last connection checkpoints the WAL into the file
  ASSERT_FALSE(std::filesystem::exists(options_.path + "-wal"));
  const auto size = std::filesystem::file_size(options_.path);
  ASSERT_GT(size, 20u * 4096);
  {
    std::fstream f(options_.path, std::ios::in | std::ios::out | std::ios::binary);
    for (uintmax_t page = 4; page * 4096 < size; page += 3) {  // trash every third page
      f.seekp(static_cast<std::streamoff>(page * 4096 + 8));
      f << std::string(200, '\x5a');
    }
  }
  std::unique_ptr<Store> store;
  Status s = Store::Open(options_, &store);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(store, nullptr);
  EXPECT_EQ(s.message().rfind(kDamagedDatabase, 0), 0u) << s.ToString();
  EXPECT_NE(s.message().find(options_.path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(".recover"), std::string::npos) << s.ToString();
}

TEST_F(StoreTest, UnusablePathGivesClearError) {
  std::unique_ptr<Store> store;
  options_.path = dir_ + "/missing-dir/parallax.db";
  Status s = Store::Open(options_, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(options_.path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s.ToString();

  options_.path = dir_;  // a directory
  s = Store::Open(options_, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is a directory"), std::string::npos) << s.ToString();

  options_.path = dir_ + "/garbage.db";
  std::ofstream(options_.path) << std::string(8192, 'x');
  s = Store::Open(options_, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a database"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(options_.path), std::string::npos) << s.ToString();
  EXPECT_EQ(store, nullptr);
}

TEST_F(StoreTest, NewerSchemaVersionIsRefused) {
  OpenStore();
  store_.reset();
  {
    SqliteRawDb raw(options_.path);
    ASSERT_EQ(raw.Exec("INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)"),
              SQLITE_OK);
  }
  std::unique_ptr<Store> store;
  Status s = Store::Open(options_, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema version 99"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("upgrade the collector"), std::string::npos) << s.ToString();
}

TEST_F(StoreTest, BusyDatabaseFailsTheBatchAndTheStoreKeepsRunning) {
  options_.busy_timeout = std::chrono::milliseconds(50);
  options_.busy_retry = std::chrono::milliseconds(0);
  OpenStore();
  ASSERT_EQ(Submit("p1", "b", Seqs(1, 2)).stored, 2);
  SqliteRawDb raw(options_.path);
  ASSERT_EQ(raw.Exec("BEGIN IMMEDIATE"), SQLITE_OK);  // holds the write lock
  CommitInfo failed = Submit("p1", "b", Seqs(3, 5));
  EXPECT_FALSE(failed.status.ok());
  EXPECT_EQ(failed.status.code(), Status::Code::kUnavailable) << failed.status.ToString();
  EXPECT_EQ(failed.stored, 0);
  EXPECT_EQ(failed.committed_seq, 2u);
  EXPECT_EQ(store_->CommittedSeq("p1", "b"), 2u);
  ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);

  CommitInfo retried = Submit("p1", "b", Seqs(3, 5));
  ASSERT_TRUE(retried.status.ok()) << retried.status.ToString();
  EXPECT_EQ(retried.stored, 3);
  EXPECT_EQ(retried.committed_seq, 5u);
  EXPECT_EQ(History("t1").size(), 5u);
}

// The issue 14 loss: a transaction fails while later batches of the same
// stream are queued; they must fail too instead of raising the mark past the
// lost ones.
TEST_F(StoreTest, BatchesQueuedBehindAFailedTransactionFailAndTheMarkKeepsNoHole) {
  options_.busy_timeout = std::chrono::milliseconds(200);
  options_.busy_retry = std::chrono::milliseconds(0);
  OpenStore();
  ASSERT_EQ(Submit("p1", "b", Seqs(1, 2)).stored, 2);
  SqliteRawDb raw(options_.path);
  ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);  // another process holds the write lock
  std::vector<std::future<CommitInfo>> futures;
  std::vector<std::shared_ptr<std::promise<CommitInfo>>> promises;
  for (uint64_t from = 3; from <= 30; from += 4) {  // 3..6, 7..10, ... queued back to back
    auto p = std::make_shared<std::promise<CommitInfo>>();
    futures.push_back(p->get_future());
    store_->SubmitResults("p1", "b", Seqs(from, from + 3),
                          [p](const CommitInfo& info) { p->set_value(info); });
    promises.push_back(p);
  }
  // Release the lock while the later batches may still be queued.
  ASSERT_EQ(futures[0].wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    CommitInfo info = f.get();
    EXPECT_FALSE(info.status.ok()) << "a batch behind the failed one was stored";
    EXPECT_EQ(info.status.code(), Status::Code::kUnavailable) << info.status.ToString();
    EXPECT_EQ(info.committed_seq, 2u);
  }
  // A later batch of the failed stream (no new Welcome) that would leave a hole is refused.
  CommitInfo gap = Submit("p1", "b", Seqs(31, 32));
  EXPECT_FALSE(gap.status.ok());
  EXPECT_NE(gap.status.message().find("resend from there"), std::string::npos)
      << gap.status.ToString();
  EXPECT_EQ(raw.Int("SELECT max_seq FROM probe_boots WHERE boot_id = 'b'"), 2);
  EXPECT_EQ(raw.Int("SELECT COUNT(*) FROM results"), 2);

  // The probe reconnects: Welcome says 2, it resends everything from 3.
  EXPECT_EQ(store_->CommittedSeq("p1", "b"), 2u);
  CommitInfo resent = Submit("p1", "b", Seqs(3, 32));
  ASSERT_TRUE(resent.status.ok()) << resent.status.ToString();
  EXPECT_EQ(resent.stored, 30);
  EXPECT_EQ(raw.Int("SELECT COUNT(*) FROM results"), 32);
  EXPECT_EQ(raw.Int("SELECT COUNT(DISTINCT seq) FROM results"), 32);
  EXPECT_EQ(raw.Int("SELECT max_seq FROM probe_boots WHERE boot_id = 'b'"), 32);
  // Other boots were never affected, and the mark is healed: gaps are allowed again.
  EXPECT_TRUE(Submit("p1", "other", Seqs(5, 6)).status.ok());
  EXPECT_EQ(Submit("p1", "b", Seqs(40, 41)).stored, 2);
}

TEST_F(StoreTest, AfterAFailureAContiguousResendOrANewStreamIsAccepted) {
  options_.busy_timeout = std::chrono::milliseconds(50);
  options_.busy_retry = std::chrono::milliseconds(0);
  OpenStore();
  ASSERT_EQ(Submit("p1", "a", Seqs(1, 2)).stored, 2);
  ASSERT_EQ(Submit("p1", "b", Seqs(1, 2)).stored, 2);
  SqliteRawDb raw(options_.path);
  ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);
  EXPECT_FALSE(Submit("p1", "a", Seqs(3, 5)).status.ok());
  EXPECT_FALSE(Submit("p1", "b", Seqs(3, 5)).status.ok());
  ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  // Boot a: the same stream continues where the store stands: no hole, accepted.
  EXPECT_EQ(Submit("p1", "a", Seqs(3, 4)).stored, 2);
  // Boot b: the probe's spool dropped 3..9 meanwhile; a new stream (Welcome
  // asked) may start after the gap.
  EXPECT_EQ(store_->CommittedSeq("p1", "b"), 2u);
  CommitInfo after_gap = Submit("p1", "b", Seqs(10, 12));
  ASSERT_TRUE(after_gap.status.ok()) << after_gap.status.ToString();
  EXPECT_EQ(after_gap.committed_seq, 12u);
}

// A probe whose spool overflowed during an outage sends its next batch with
// ResultBatch.dropped_through (issue 14): the results up to there are gone
// for good. The store does not see that field; it never needs to: outside a
// failed transaction gaps are accepted anyway, and after one a batch that
// starts past the gap is refused on the failed stream (the mark never passes
// an unstored result) and accepted from the probe's next stream, whose
// Welcome asked CommittedSeq() first.
TEST_F(StoreTest, ADeclaredSpoolGapAfterAFailedTransactionIsAcceptedFromTheNextStream) {
  options_.busy_timeout = std::chrono::milliseconds(50);
  options_.busy_retry = std::chrono::milliseconds(0);
  OpenStore();
  ASSERT_EQ(Submit("p1", "b", Seqs(1, 2)).stored, 2);
  SqliteRawDb raw(options_.path);
  ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);
  EXPECT_FALSE(Submit("p1", "b", Seqs(3, 5)).status.ok());
  ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  // The probe dropped 3..9 (dropped_through = 9); still on the failed stream,
  // a batch starting at 10 is refused and the mark stays at 2.
  CommitInfo same_stream = Submit("p1", "b", Seqs(10, 12));
  EXPECT_FALSE(same_stream.status.ok());
  EXPECT_EQ(same_stream.committed_seq, 2u);
  EXPECT_EQ(raw.Int("SELECT max_seq FROM probe_boots WHERE boot_id = 'b'"), 2);
  // The next stream: Welcome says 2; the probe sends 10.. (dropped_through 9).
  EXPECT_EQ(store_->CommittedSeq("p1", "b"), 2u);
  CommitInfo next_stream = Submit("p1", "b", Seqs(10, 12));
  ASSERT_TRUE(next_stream.status.ok()) << next_stream.status.ToString();
  EXPECT_EQ(next_stream.stored, 3);
  EXPECT_EQ(next_stream.committed_seq, 12u);
  EXPECT_EQ(raw.Int("SELECT COUNT(*) FROM results"), 5);  // 1, 2, 10, 11, 12
  EXPECT_EQ(raw.Int("SELECT COUNT(*) FROM results WHERE seq BETWEEN 3 AND 9"), 0);
  EXPECT_EQ(raw.Int("SELECT max_seq FROM probe_boots WHERE boot_id = 'b'"), 12);
  // Healed: later gaps on this stream are accepted as before the failure.
  EXPECT_EQ(Submit("p1", "b", Seqs(20, 21)).stored, 2);
}

TEST_F(StoreTest, BusyIsRetriedWithBackoffUntilTheLockIsReleased) {
  options_.busy_timeout = std::chrono::milliseconds(50);
  options_.busy_retry = std::chrono::seconds(20);
  OpenStore();
  SqliteRawDb raw(options_.path);
  ASSERT_EQ(raw.Exec("BEGIN EXCLUSIVE"), SQLITE_OK);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > busy_timeout
    raw.Exec("COMMIT");
  });
  CommitInfo info = Submit("p1", "b", Seqs(1, 3));
  release.join();
  ASSERT_TRUE(info.status.ok()) << info.status.ToString();
  EXPECT_EQ(info.stored, 3);
}

TEST_P(StoreContractTest, ConcurrentSubmissionsAreStoredExactlyOnce) {
  options_.max_batch_results = 100;
  OpenStore();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::atomic<int> stored{0}, duplicates{0}, failures{0}, callbacks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string probe = "p" + std::to_string(t % 4);
      const std::string boot = "boot" + std::to_string(t);
      for (uint64_t from = 1; from <= kPerThread; from += 25) {
        store_->SubmitResults(probe, boot, Seqs(from, from + 24, "t" + std::to_string(t % 3)),
                              [&](const CommitInfo& info) {
                                stored += info.stored;
                                duplicates += info.duplicates;
                                if (!info.status.ok()) ++failures;
                                ++callbacks;
                              });
      }
      // Resend the first 50: all duplicates.
      store_->SubmitResults(probe, boot, Seqs(1, 50), [&](const CommitInfo& info) {
        duplicates += info.duplicates;
        ++callbacks;
      });
    });
  }
  for (auto& th : threads) th.join();
  store_->Flush();
  EXPECT_EQ(callbacks.load(), kThreads * (kPerThread / 25 + 1));
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(stored.load(), kThreads * kPerThread);
  EXPECT_EQ(duplicates.load(), kThreads * 50);
  auto raw = Raw();
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM results"), kThreads * kPerThread);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM (SELECT DISTINCT boot_ref, seq FROM results) AS x"),
            kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(store_->CommittedSeq("p" + std::to_string(t % 4), "boot" + std::to_string(t)),
              static_cast<uint64_t>(kPerThread));
  }
}

TEST_P(StoreContractTest, DestructorFlushesQueuedWrites) {
  OpenStore();
  std::atomic<int> done{0};
  for (uint64_t i = 0; i < 20; ++i) {
    store_->SubmitResults("p1", "b", Seqs(i * 10 + 1, i * 10 + 10),
                          [&](const CommitInfo& info) { done += info.stored; });
  }
  store_.reset();
  EXPECT_EQ(done.load(), 200);
  auto raw = Raw();
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM results"), 200);
}

// ---- Run compaction (issue 16): the default; runs and changes ----

v1::CheckResult Timed(uint64_t seq, const std::string& target, int64_t ts_ms, v1::Outcome outcome,
                      int64_t connect_us) {
  v1::CheckResult r = Result(seq, target, ts_ms, outcome);
  r.set_connect_us(connect_us);
  r.set_address("192.0.2.1:22");
  if (outcome == v1::OUTCOME_OK) r.set_identification("SSH-2.0-OpenSSH_9.2");
  return r;
}

class CompactionTest : public StoreContractTest {
 protected:
  void SetUp() override {
    StoreContractTest::SetUp();
    options_.compaction = true;
  }
  std::vector<RunRecord> Runs(const std::string& target, const std::string& probe = "") {
    std::vector<RunRecord> runs;
    Status s = store_->Runs(target, probe, 0, 0, &runs);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return runs;
  }
};

INSTANTIATE_TEST_SUITE_P(Sqlite, CompactionTest, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(Postgres, CompactionTest, ::testing::Values("postgres"));

TEST_P(CompactionTest, APairThatStaysOkForAThousandChecksStoresOneRunRow) {
  OpenStore();
  int stored = 0;
  for (uint64_t from = 1; from <= 1000; from += 100) {  // ten transactions
    std::vector<v1::CheckResult> rs;
    for (uint64_t s = from; s < from + 100; ++s) {
      rs.push_back(Timed(s, "t1", 10'000 + 10 * s, v1::OUTCOME_OK, 300 + (s % 7) * 10));
    }
    CommitInfo info = Submit("p1", "b", rs);
    ASSERT_TRUE(info.status.ok()) << info.status.ToString();
    stored += info.stored;
  }
  EXPECT_EQ(stored, 1000);
  auto raw = Raw();
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM runs"), 1);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM results"), 1);  // the first: a change
  std::vector<RunRecord> runs = Runs("t1");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].probe, "p1");
  EXPECT_EQ(runs[0].boot_id, "b");
  EXPECT_EQ(runs[0].outcome, v1::OUTCOME_OK);
  EXPECT_EQ(runs[0].count, 1000);
  EXPECT_EQ(runs[0].first_seq, 1u);
  EXPECT_EQ(runs[0].last_seq, 1000u);
  EXPECT_EQ(runs[0].first_ms, 10'010);
  EXPECT_EQ(runs[0].last_ms, 20'000);
  EXPECT_EQ(runs[0].connect_min_us, 300);
  EXPECT_EQ(runs[0].connect_max_us, 360);
  int64_t sum = 0;
  for (uint64_t s = 1; s <= 1000; ++s) sum += 300 + (s % 7) * 10;
  EXPECT_EQ(runs[0].connect_sum_us, sum);
  // History: the change, and the newest check (not a results row).
  std::vector<ResultRow> changes = History("t1");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].result.seq(), 1000u);
  EXPECT_EQ(changes[1].result.seq(), 1u);
  EXPECT_EQ(History("t1", "", 0, 1).size(), 1u);
  // The newest result stays whole for the diagnosis.
  std::vector<ResultRow> latest;
  ASSERT_TRUE(store_->LatestResults(&latest).ok());
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].result.SerializeAsString(),
            Timed(1000, "t1", 20'000, v1::OUTCOME_OK, 300 + (1000 % 7) * 10).SerializeAsString());
}

TEST_P(CompactionTest, AFaultInTheMiddleStoresExactlyTheChanges) {
  OpenStore();
  constexpr int kN = 50, kM = 20, kK = 30;
  std::vector<v1::CheckResult> all;
  uint64_t seq = 0;
  auto add = [&](int n, v1::Outcome outcome, int64_t base_us) {
    for (int i = 0; i < n; ++i) {
      ++seq;
      all.push_back(Timed(seq, "t1", 100'000 + 1000 * static_cast<int64_t>(seq), outcome,
                          outcome == v1::OUTCOME_TIMEOUT ? 0 : base_us + i));
      // Another target stays ok throughout, interleaved.
      all.push_back(
          Timed(1000 + seq, "t2", 100'000 + 1000 * static_cast<int64_t>(seq), v1::OUTCOME_OK, 500));
    }
  };
  add(kN, v1::OUTCOME_OK, 400);
  add(kM, v1::OUTCOME_TIMEOUT, 0);
  add(kK, v1::OUTCOME_OK, 600);
  // Submissions of 7 cut the runs at arbitrary places (seqs increase per
  // submission: t1's seqs, then t2's of the same slice).
  for (size_t from = 0; from < all.size(); from += 14) {
    std::vector<v1::CheckResult> t1, t2;
    for (size_t i = from; i < std::min(all.size(), from + 14); ++i) {
      (all[i].target() == "t1" ? t1 : t2).push_back(all[i]);
    }
    ASSERT_TRUE(Submit("p1", "b", t1).status.ok());
    ASSERT_TRUE(Submit("p1", "b2", t2).status.ok());
  }
  std::vector<RunRecord> runs = Runs("t1");
  ASSERT_EQ(runs.size(), 3u);  // newest first
  EXPECT_EQ(runs[2].outcome, v1::OUTCOME_OK);
  EXPECT_EQ(runs[2].count, kN);
  EXPECT_EQ(runs[2].first_seq, 1u);
  EXPECT_EQ(runs[2].last_seq, static_cast<uint64_t>(kN));
  EXPECT_EQ(runs[2].connect_min_us, 400);
  EXPECT_EQ(runs[2].connect_max_us, 400 + kN - 1);
  EXPECT_EQ(runs[2].connect_sum_us / runs[2].count, (400 + 400 + kN - 1) / 2);
  EXPECT_EQ(runs[1].outcome, v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(runs[1].count, kM);
  EXPECT_EQ(runs[1].first_seq, static_cast<uint64_t>(kN + 1));
  EXPECT_EQ(runs[1].last_seq, static_cast<uint64_t>(kN + kM));
  EXPECT_EQ(runs[1].connect_max_us, 0);
  EXPECT_EQ(runs[0].outcome, v1::OUTCOME_OK);
  EXPECT_EQ(runs[0].count, kK);
  EXPECT_EQ(runs[0].first_seq, static_cast<uint64_t>(kN + kM + 1));
  EXPECT_EQ(runs[0].last_seq, static_cast<uint64_t>(kN + kM + kK));
  EXPECT_EQ(runs[0].first_ms, 100'000 + 1000 * (kN + kM + 1));
  EXPECT_EQ(runs[0].last_ms, 100'000 + 1000 * (kN + kM + kK));
  EXPECT_EQ(runs[0].connect_min_us, 600);
  EXPECT_EQ(runs[0].connect_max_us, 600 + kK - 1);
  // Exactly the changes, whole, newest first, after the newest check.
  std::vector<ResultRow> changes = History("t1");
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].result.seq(), static_cast<uint64_t>(kN + kM + kK));
  EXPECT_EQ(changes[1].result.seq(), static_cast<uint64_t>(kN + kM + 1));
  EXPECT_EQ(changes[2].result.seq(), static_cast<uint64_t>(kN + 1));
  EXPECT_EQ(changes[2].result.outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(changes[3].result.seq(), 1u);
  EXPECT_EQ(changes[3].result.SerializeAsString(), all[0].SerializeAsString());
  // The steady target: one run, one change.
  std::vector<RunRecord> steady = Runs("t2");
  ASSERT_EQ(steady.size(), 1u);
  EXPECT_EQ(steady[0].count, kN + kM + kK);
  EXPECT_EQ(History("t2").size(), 2u);
  auto raw = Raw();
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM runs"), 4);
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM results"), 4);
  EXPECT_EQ(raw->Int("SELECT SUM(count) FROM runs"), 2 * (kN + kM + kK));
  std::vector<ResultRow> latest;
  ASSERT_TRUE(store_->LatestResults(&latest).ok());
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].result.seq(), static_cast<uint64_t>(kN + kM + kK));
}

TEST_P(CompactionTest, ResendsAcrossACompactedRunAreDuplicatesAndANewBootStartsARun) {
  OpenStore();
  std::vector<v1::CheckResult> rs;
  for (uint64_t s = 1; s <= 150; ++s) rs.push_back(Timed(s, "t1", 1000 + s, v1::OUTCOME_OK, 100));
  CommitInfo first = Submit("p1", "b", {rs.begin(), rs.begin() + 100});
  EXPECT_EQ(first.stored, 100);
  // The probe resends from its spool after a lost ack: overlapping range.
  CommitInfo again = Submit("p1", "b", rs);
  EXPECT_EQ(again.stored, 50);
  EXPECT_EQ(again.duplicates, 100);
  // A restarted collector knows the mark: the whole range is duplicate.
  OpenStore();
  CommitInfo after = Submit("p1", "b", rs);
  EXPECT_EQ(after.stored, 0);
  EXPECT_EQ(after.duplicates, 150);
  std::vector<RunRecord> runs = Runs("t1");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].count, 150);
  EXPECT_EQ(runs[0].last_seq, 150u);
  // The probe restarted (new boot, seqs from 1): a new run, though still ok.
  EXPECT_EQ(
      Submit("p1", "b-new",
             {Timed(1, "t1", 5000, v1::OUTCOME_OK, 100), Timed(2, "t1", 5010, v1::OUTCOME_OK, 100)})
          .stored,
      2);
  runs = Runs("t1");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].boot_id, "b-new");
  EXPECT_EQ(runs[0].count, 2);
  EXPECT_EQ(runs[1].boot_id, "b");
  EXPECT_EQ(History("t1").size(), 3u);  // two changes and the newest
  // Ad-hoc results are stored whole and never extend a run.
  v1::CheckResult adhoc = Timed(3, "t1", 5020, v1::OUTCOME_OK, 100);
  adhoc.set_adhoc_id("req-1");
  EXPECT_EQ(Submit("p1", "b-new", {adhoc, Timed(4, "t1", 5030, v1::OUTCOME_OK, 100)}).stored, 2);
  runs = Runs("t1");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].count, 3);
  EXPECT_EQ(History("t1").size(), 4u);
}

TEST_P(CompactionTest, ConcurrentSubmissionsAreCountedExactlyOnceInRuns) {
  options_.max_batch_results = 100;
  OpenStore();
  constexpr int kThreads = 6;
  constexpr int kPerThread = 600;
  std::atomic<int> stored{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Two boots per probe, writing the same pairs: runs alternate.
      const std::string probe = "p" + std::to_string(t % 3);
      const std::string boot = "boot" + std::to_string(t);
      for (uint64_t from = 1; from <= kPerThread; from += 25) {
        std::vector<v1::CheckResult> rs;
        for (uint64_t s = from; s < from + 25; ++s) {
          rs.push_back(Timed(s, "t" + std::to_string(s % 2), 1000 + s,
                             s % 100 < 90 ? v1::OUTCOME_OK : v1::OUTCOME_TIMEOUT, 200));
        }
        store_->SubmitResults(probe, boot, std::move(rs), [&](const CommitInfo& info) {
          stored += info.stored;
          if (!info.status.ok()) ++failures;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  store_->Flush();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(stored.load(), kThreads * kPerThread);
  auto raw = Raw();
  // Every boot: its runs count exactly its results, up to its mark.
  EXPECT_EQ(raw->Texts("SELECT b.boot_id || ':' || SUM(r.count) || ':' || MAX(r.last_seq)"
                       " FROM runs r JOIN probe_boots b ON b.id = r.boot_ref"
                       " GROUP BY b.boot_id ORDER BY b.boot_id"),
            (std::vector<std::string>{"boot0:600:600", "boot1:600:600", "boot2:600:600",
                                      "boot3:600:600", "boot4:600:600", "boot5:600:600"}));
  // A pair's runs of one boot follow each other: no seq is in two of them.
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM runs a JOIN runs b ON a.boot_ref = b.boot_ref"
                     " AND a.probe_id = b.probe_id AND a.target_id = b.target_id"
                     " AND a.id < b.id AND a.last_seq >= b.first_seq"),
            0);
  // As many changes as runs.
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM results"), raw->Int("SELECT COUNT(*) FROM runs"));
}

TEST_P(CompactionTest, RetentionKeepsChangesLongerThanRuns) {
  options_.retention = std::chrono::hours(1);
  options_.change_retention = std::chrono::hours(3);
  options_.retention_sweep_every = std::chrono::milliseconds(20);
  options_.retention_chunk_rows = 3;
  OpenStore();
  const int64_t now = NowMs();
  const int64_t hour = 3600 * 1000;
  std::vector<v1::CheckResult> rs;
  uint64_t seq = 0;
  for (int i = 0; i < 5; ++i) {
    rs.push_back(Timed(++seq, "t1", now - 2 * hour + i, v1::OUTCOME_OK, 100));  // run old
    rs.push_back(Timed(++seq, "t2", now - 4 * hour + i, v1::OUTCOME_OK, 100));  // both old
    rs.push_back(Timed(++seq, "t3", now - 4 * hour + i, v1::OUTCOME_OK, 100));  // still live
  }
  for (int i = 0; i < 5; ++i) {
    rs.push_back(Timed(++seq, "t3", now + i, v1::OUTCOME_OK, 100));
  }
  ASSERT_EQ(Submit("p1", "b", rs).stored, 20);
  auto raw = Raw();
  bool done = false;
  for (int i = 0; i < 1000 && !done; ++i) {  // at most ~10 s
    done = raw->Int("SELECT COUNT(*) FROM runs") == 1 &&
           raw->Int("SELECT COUNT(*) FROM results") == 1 &&
           raw->Int("SELECT COUNT(*) FROM latest_results") == 1;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(done) << raw->Int("SELECT COUNT(*) FROM runs") << " runs, "
                    << raw->Int("SELECT COUNT(*) FROM results") << " changes";
  EXPECT_TRUE(Runs("t1").empty());      // the run expired,
  EXPECT_EQ(History("t1").size(), 1u);  // its change is kept longer;
  EXPECT_TRUE(History("t2").empty());   // both expired;
  ASSERT_EQ(Runs("t3").size(), 1u);     // a live run that began long ago stays;
  ASSERT_EQ(History("t3").size(), 1u);  // its change expired: the newest check only
  EXPECT_EQ(History("t3")[0].result.seq(), 20u);
  EXPECT_EQ(Runs("t3")[0].count, 10);
  std::vector<ResultRow> latest;
  ASSERT_TRUE(store_->LatestResults(&latest).ok());
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].target, "t3");
  // Dedupe state outlives the rows.
  EXPECT_EQ(Submit("p1", "b", rs).duplicates, 20);
}

// A database of the previous schema version with results in it (every
// result a row): opening it keeps them as history, seeds the newest result
// per pair, and compacts what comes next.
TEST_P(CompactionTest, MigrationFromThePreviousSchemaKeepsResultsAsHistory) {
  options_.compaction = false;
  OpenStore();
  std::vector<v1::CheckResult> rs;
  for (uint64_t s = 1; s <= 30; ++s) {
    rs.push_back(Timed(s, s % 2 ? "t1" : "t2", 1000 + s,
                       s == 29 ? v1::OUTCOME_REFUSED : v1::OUTCOME_OK, 100));
  }
  ASSERT_EQ(Submit("p1", "b", rs).stored, 30);
  store_.reset();
  // Back to the previous version: what a collector before issue 16 wrote.
  auto raw = Raw();
  if (driver_ == "sqlite") {
    ASSERT_EQ(raw->Exec("DROP TABLE runs; DROP TABLE latest_results; DROP VIEW runs_v;"
                        " DELETE FROM schema_version WHERE version = 6"),
              0);
  } else {
    // Versions 4 and 3 undone: version 2's latest_results, no runs.
    ASSERT_EQ(raw->Exec(std::string(testing::kPgUndoSchema4Sql) +
                        " DROP VIEW runs_v; DROP TABLE runs;"
                        " DELETE FROM schema_version WHERE version >= 3"),
              0);
  }
  raw.reset();
  options_.compaction = true;
  OpenStore();
  raw = Raw();
  EXPECT_EQ(raw->Int("SELECT MAX(version) FROM schema_version"), driver_ == "sqlite" ? 6 : 4);
  EXPECT_EQ(History("t1").size(), 15u);  // the old rows, as history
  EXPECT_EQ(raw->Int("SELECT COUNT(*) FROM runs"), 0);
  std::vector<ResultRow> latest;
  ASSERT_TRUE(store_->LatestResults(&latest).ok());
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].target, "t1");
  EXPECT_EQ(latest[0].result.seq(), 29u);
  EXPECT_EQ(latest[0].result.outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(latest[1].result.seq(), 30u);
  EXPECT_EQ(store_->CommittedSeq("p1", "b"), 30u);
  // What follows is compacted: a new run (a change row) then extensions.
  rs.clear();
  for (uint64_t s = 31; s <= 40; ++s) rs.push_back(Timed(s, "t1", 2000 + s, v1::OUTCOME_OK, 100));
  ASSERT_EQ(Submit("p1", "b", rs).stored, 10);
  EXPECT_EQ(History("t1").size(), 17u);  // + the change (31) and the newest (40)
  ASSERT_EQ(Runs("t1").size(), 1u);
  EXPECT_EQ(Runs("t1")[0].count, 10);
  ASSERT_TRUE(store_->LatestResults(&latest).ok());
  EXPECT_EQ(latest[0].result.seq(), 40u);
}

}  // namespace
}  // namespace parallax::collector
