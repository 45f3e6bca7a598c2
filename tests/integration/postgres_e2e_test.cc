// End to end on PostgreSQL: the collector (storage.driver: postgres) on a
// real server the test starts (collector/store/testing/pg_server.h; the
// collector connects as a plain role that owns its database, as
// docs/POSTGRES.md sets it up), a real
// probe checking a real sshd and a closed port on loopback. Results reach the
// database exactly once and come back through the CLI; the DSN's password
// never shows in the collector's log.
#include <gtest/gtest.h>

#include "collector/store/testing/pg_server.h"
#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

TEST(PostgresEndToEnd, CollectorStoresResultsInPostgresAndServesThem) {
  std::string why;
  collector::testing::PgServer* pg = collector::testing::PgServer::Shared(&why);
  ASSERT_NE(pg, nullptr) << "PostgreSQL test server: " << why;
  ASSERT_TRUE(pg->CreateDatabase("e2e").ok());
  TempDir dir;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir, &why);
  if (!sshd) GTEST_SKIP() << "cannot run a real sshd here: " << why;
  const int closed = ClosedPort();

  Cluster cluster(dir);
  // Trust authentication ignores the password: it is there to be hidden.
  cluster.set_storage_extra("  driver: postgres\n  dsn: \"" + pg->Dsn("e2e") +
                            " password=s3cr3t-pw\"\n");
  cluster.Configure({{"sshd", "127.0.0.1", sshd->port()}, {"closed", "127.0.0.1", closed}});
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"site", "test"}});
  nlohmann::json status;
  ASSERT_TRUE(cluster.WaitForOutcomes({{{"sshd", "p1"}, "ok"}, {{"closed", "p1"}, "refused"}},
                                      seconds(20), &status))
      << status.dump(2) << "\ncollector:\n"
      << cluster.collector()->log();

  std::string count, distinct, outcomes;
  ASSERT_TRUE(pg->Exec("e2e", "SELECT COUNT(*) FROM results", &count).ok());
  ASSERT_TRUE(pg->Exec("e2e", "SELECT COUNT(*) FROM (SELECT DISTINCT boot_ref, seq FROM results) x",
                       &distinct)
                  .ok());
  EXPECT_GE(std::stoi(count), 2);
  EXPECT_EQ(count, distinct) << "a result stored twice";
  ASSERT_TRUE(pg->Exec("e2e",
                       "SELECT string_agg(DISTINCT target || '|' || outcome, ',') FROM results_v"
                       " WHERE probe = 'p1'",
                       &outcomes)
                  .ok());
  EXPECT_NE(outcomes.find("sshd|ok"), std::string::npos) << outcomes;
  EXPECT_NE(outcomes.find("closed|refused"), std::string::npos) << outcomes;
  // docs/POSTGRES.md's query of the view, as printed there.
  std::string newest;
  ASSERT_TRUE(pg->Exec("e2e",
                       "SELECT time_utc, probe, target, outcome, detail FROM results_v\n"
                       "  ORDER BY ts_ms DESC LIMIT 20;",
                       &newest)
                  .ok());
  EXPECT_FALSE(newest.empty());

  nlohmann::json history = cluster.CliJson({"history", "sshd", "--limit", "3"});
  ASSERT_TRUE(history.contains("entries")) << history.dump();
  ASSERT_GE(history["entries"].size(), 1u);
  EXPECT_EQ(history["entries"][0]["outcome"], "ok");

  // A restarted collector seeds its state from PostgreSQL.
  cluster.StartCollector();
  nlohmann::json again = cluster.CliJson({"status"});
  EXPECT_EQ(cluster.Outcome(again, "sshd", "p1"), "ok") << again.dump(2);

  const std::string log = cluster.collector()->log();
  EXPECT_EQ(log.find("s3cr3t-pw"), std::string::npos) << log;
  EXPECT_NE(log.find("password=***"), std::string::npos) << log;
}

}  // namespace
}  // namespace parallax::testing
