#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

#include "collector/store/store.h"
#include "collector/store/testing/store_test_db.h"

namespace parallax::collector {
namespace {

// Run against every driver (INSTANTIATE below).
class IncidentsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    options_.retention = std::chrono::milliseconds(0);
    options_.incident_retention = std::chrono::milliseconds(0);
    if (GetParam() == "postgres") {
      ASSERT_NO_FATAL_FAILURE(UsePostgres(&options_, &pg_db_));
    } else {
      std::string tmpl = ::testing::TempDir() + "/parallax_incidents_XXXXXX";
      ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
      dir_ = tmpl;
      options_.path = dir_ + "/parallax.db";
    }
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    Status s = Store::Open(options_, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<IncidentRecord> List(const std::string& target = "", bool open_only = false,
                                   size_t limit = 0) {
    store_->Flush();
    std::vector<IncidentRecord> out;
    Status s = store_->ListIncidents(target, open_only, limit, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::string dir_;
  std::string pg_db_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, IncidentsTest, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(Postgres, IncidentsTest, ::testing::Values("postgres"));

TEST_P(IncidentsTest, OpenChangeCloseLifecycle) {
  store_->OpenIncident("web", v1::CAUSE_FIREWALL_BLOCK, 1000, "all probes time out");
  store_->ChangeIncident("web", v1::CAUSE_HOST_OFFLINE, 2000, "liveness ports dead too");
  std::vector<IncidentRecord> open = List("", true);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].target, "web");
  EXPECT_EQ(open[0].cause, v1::CAUSE_HOST_OFFLINE);
  EXPECT_EQ(open[0].opened_ms, 1000);
  EXPECT_EQ(open[0].closed_ms, 0);
  EXPECT_EQ(open[0].summary, "liveness ports dead too");
  ASSERT_EQ(open[0].changes.size(), 2u);
  EXPECT_EQ(open[0].changes[0].cause, v1::CAUSE_FIREWALL_BLOCK);
  EXPECT_EQ(open[0].changes[1].at_ms, 2000);

  store_->CloseIncident("web", 3000, "reachable again");
  EXPECT_TRUE(List("", true).empty());
  std::vector<IncidentRecord> all = List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].closed_ms, 3000);
  EXPECT_EQ(all[0].cause, v1::CAUSE_HOST_OFFLINE);  // the last failure cause
  ASSERT_EQ(all[0].changes.size(), 3u);
  EXPECT_EQ(all[0].changes[2].cause, v1::CAUSE_OK);
  EXPECT_EQ(all[0].changes[2].summary, "reachable again");

  // Closing again, or a target without incidents, is a no-op.
  store_->CloseIncident("web", 4000, "x");
  store_->CloseIncident("other", 4000, "x");
  EXPECT_EQ(List().size(), 1u);
}

TEST_P(IncidentsTest, AtMostOneOpenPerTargetAndFilters) {
  store_->OpenIncident("a", v1::CAUSE_SSH_REFUSED, 100, "refused");
  store_->OpenIncident("a", v1::CAUSE_ISP_BLOCK, 200, "isp");            // closes the first
  store_->ChangeIncident("b", v1::CAUSE_NOT_SSH, 300, "http answered");  // opens one
  std::vector<IncidentRecord> all = List();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].target, "b");  // newest first
  EXPECT_EQ(all[1].opened_ms, 200);
  EXPECT_EQ(all[2].closed_ms, 200);
  EXPECT_EQ(List("a").size(), 2u);
  EXPECT_EQ(List("a", true).size(), 1u);
  EXPECT_EQ(List("", true).size(), 2u);
  EXPECT_EQ(List("", false, 1).size(), 1u);
  EXPECT_TRUE(List("nope").empty());

  Reopen();  // persisted
  std::vector<IncidentRecord> open = List("", true);
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[1].cause, v1::CAUSE_ISP_BLOCK);

  const char* kCauseOfB = "SELECT cause FROM incidents_v WHERE target = 'b'";
  if (GetParam() == "postgres") {
    std::string cause;
    Status s = testing::SharedPgServer()->Exec(pg_db_, kCauseOfB, &cause);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(cause, "not_ssh");
    return;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/parallax.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, kCauseOfB, -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "not_ssh");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace parallax::collector
