// QueryServiceImpl on the in-memory FakeStore, a LiveState and a simulated
// clock, called directly (no server needed).
#include "collector/query/query_service.h"

#include <gtest/gtest.h>

#include "collector/store/fake_store.h"

namespace parallax::collector {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

class QueryServiceTest : public ::testing::Test {
 protected:
  QueryServiceTest()
      : service_(
            &store_, &state_, [this] { return snapshot_; }, [this] { return now_; },
            [](const std::string& target) {
              v1::ExplainResponse r;
              r.add_verdicts()->set_target(target);
              return r;
            },
            [] {
              QueryServiceImpl::Causes c;
              c["t1"] = {v1::CAUSE_SSH_REFUSED, "Refused."};
              return c;
            }) {
    auto config = std::make_shared<Config>();
    TargetConfig t;
    t.name = "t1";
    t.host = "192.0.2.1";
    config->targets.push_back(t);
    snapshot_ = {config, 1};
  }

  int64_t now_ = kNow;
  ConfigSnapshot snapshot_;
  FakeStore store_;
  LiveState state_;
  QueryServiceImpl service_;
};

TEST_F(QueryServiceTest, StatusAgesResultsOnTheCollectorsClockAndShowsClockOffsets) {
  v1::Hello h;
  h.set_probe_name("p1");
  state_.ProbeConnected(h, "peer", kNow - 5000);
  state_.ProbeClock("p1", -600'000, 3);
  v1::CheckResult r;
  r.set_seq(1);
  r.set_target("t1");
  r.set_outcome(v1::OUTCOME_REFUSED);
  r.set_started_unix_ms(kNow - 600'000 - 1500);  // the probe's clock
  r.set_collector_started_unix_ms(kNow - 1500);
  r.set_received_unix_ms(kNow - 1400);
  state_.UpdateResults("p1", std::vector<v1::CheckResult>{r});

  v1::StatusRequest req;
  v1::StatusResponse resp;
  ASSERT_TRUE(service_.Status(nullptr, &req, &resp).ok());
  EXPECT_EQ(resp.now_unix_ms(), kNow);
  ASSERT_EQ(resp.targets_size(), 1);
  EXPECT_EQ(resp.targets(0).cause(), v1::CAUSE_SSH_REFUSED);
  ASSERT_EQ(resp.targets(0).probes_size(), 1);
  EXPECT_DOUBLE_EQ(resp.targets(0).probes(0).age_s(), 1.5);  // not 601.5
  ASSERT_EQ(resp.probes_size(), 1);
  EXPECT_TRUE(resp.probes(0).clock_measured());
  EXPECT_DOUBLE_EQ(resp.probes(0).clock_offset_s(), -600.0);
  EXPECT_DOUBLE_EQ(resp.probes(0).clock_rtt_ms(), 3.0);
  EXPECT_DOUBLE_EQ(resp.probes(0).last_seen_age_s(), 1.4);

  req.set_target("nope");
  grpc::Status st = service_.Status(nullptr, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("\"nope\""), std::string::npos);
}

TEST_F(QueryServiceTest, HistoryGivesBothClocksNewestFirstAndValidatesItsArguments) {
  std::vector<v1::CheckResult> results;
  for (int i = 1; i <= 3; ++i) {
    v1::CheckResult r;
    r.set_seq(i);
    r.set_target("t1");
    r.set_outcome(v1::OUTCOME_OK);
    r.set_started_unix_ms(kNow + 600'000 + i * 1000);  // probe 10 minutes ahead
    r.set_collector_started_unix_ms(kNow + i * 1000);
    r.set_received_unix_ms(kNow + i * 1000 + 50);
    results.push_back(r);
  }
  store_.SubmitResults("p1", "b1", results, nullptr);
  store_.CommitPending();

  v1::HistoryRequest req;
  req.set_target("t1");
  req.set_since_unix_ms(kNow + 2000);  // on the collector's clock
  v1::HistoryResponse resp;
  ASSERT_TRUE(service_.History(nullptr, &req, &resp).ok());
  ASSERT_EQ(resp.entries_size(), 2);
  EXPECT_EQ(resp.entries(0).unix_ms(), kNow + 600'000 + 3000);
  EXPECT_EQ(resp.entries(0).collector_unix_ms(), kNow + 3000);
  EXPECT_EQ(resp.entries(0).received_unix_ms(), kNow + 3050);
  EXPECT_EQ(resp.entries(1).collector_unix_ms(), kNow + 2000);

  req.set_limit(10001);
  grpc::Status st = service_.History(nullptr, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("10001"), std::string::npos);
  v1::HistoryRequest none;
  EXPECT_EQ(service_.History(nullptr, &none, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  none.set_target("nope");
  EXPECT_EQ(service_.History(nullptr, &none, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(QueryServiceTest, ExplainAndIncidents) {
  v1::ExplainRequest ereq;
  ereq.set_target("t1");
  v1::ExplainResponse eresp;
  ASSERT_TRUE(service_.Explain(nullptr, &ereq, &eresp).ok());
  ASSERT_EQ(eresp.verdicts_size(), 1);
  ereq.set_target("nope");
  EXPECT_EQ(service_.Explain(nullptr, &ereq, &eresp).error_code(), grpc::StatusCode::NOT_FOUND);

  store_.OpenIncident("t1", v1::CAUSE_SSH_REFUSED, kNow - 2000, "Refused.");
  store_.CloseIncident("t1", kNow - 1000, "Back.");
  store_.OpenIncident("t1", v1::CAUSE_HOST_OFFLINE, kNow, "Offline.");
  store_.CommitPending();
  v1::IncidentsRequest ireq;
  v1::IncidentsResponse iresp;
  ASSERT_TRUE(service_.Incidents(nullptr, &ireq, &iresp).ok());
  ASSERT_EQ(iresp.incidents_size(), 2);
  EXPECT_EQ(iresp.incidents(0).cause(), v1::CAUSE_HOST_OFFLINE);  // newest first
  EXPECT_EQ(iresp.incidents(0).closed_unix_ms(), 0);
  EXPECT_EQ(iresp.incidents(1).closed_unix_ms(), kNow - 1000);
  EXPECT_EQ(iresp.incidents(1).changes_size(), 2);
  ireq.set_open_only(true);
  iresp.Clear();
  ASSERT_TRUE(service_.Incidents(nullptr, &ireq, &iresp).ok());
  EXPECT_EQ(iresp.incidents_size(), 1);
}

// A follower (several collectors on one database) refuses status and
// explain naming the leader, and still answers what it reads from the store.
TEST_F(QueryServiceTest, AFollowerRefusesStatusAndExplainNamingTheLeader) {
  std::string follower = "this collector (b:7420) is a follower: ask the leader, collector a:7420";
  service_.set_follower([&] { return follower; });
  v1::StatusRequest sreq;
  v1::StatusResponse sresp;
  grpc::Status g = service_.Status(nullptr, &sreq, &sresp);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(g.error_message().find("a:7420"), std::string::npos);
  EXPECT_EQ(sresp.targets_size(), 0);
  v1::ExplainRequest ereq;
  v1::ExplainResponse eresp;
  EXPECT_EQ(service_.Explain(nullptr, &ereq, &eresp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::IncidentsRequest ireq;
  v1::IncidentsResponse iresp;
  EXPECT_TRUE(service_.Incidents(nullptr, &ireq, &iresp).ok());
  // Leading again (empty message): answers as before.
  follower.clear();
  EXPECT_TRUE(service_.Status(nullptr, &sreq, &sresp).ok());
  EXPECT_EQ(sresp.targets_size(), 1);
}

}  // namespace
}  // namespace parallax::collector
