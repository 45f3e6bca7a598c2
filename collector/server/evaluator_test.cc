// Evaluator on the in-memory FakeStore and a simulated clock: hysteresis,
// incidents opened, changed and closed, the collector's clock for freshness,
// and seamless restarts (no verdict change until the probes are back).
#include "collector/server/evaluator.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "collector/store/fake_store.h"

namespace parallax::collector {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;

class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() {
    auto config = std::make_shared<Config>();
    TargetConfig t;
    t.name = "t1";
    t.host = "192.0.2.1";
    t.interval = std::chrono::seconds(1);
    t.timeout = std::chrono::milliseconds(500);
    config->targets.push_back(t);
    config->diagnosis.hysteresis = 2;
    snapshot_ = {config, 1};
  }

  std::unique_ptr<Evaluator> MakeEvaluator() {
    return std::make_unique<Evaluator>(
        &store_, &state_, &metrics_, [this] { return snapshot_; }, [this] { return now_; });
  }

  void Connect(const std::string& probe, const std::string& network) {
    v1::Hello h;
    h.set_probe_name(probe);
    (*h.mutable_labels())["network"] = network;
    state_.ProbeConnected(h, "peer", now_);
  }
  // A result of `probe` that arrived now; `probe_clock_ms` is the probe's own
  // (maybe wrong) start time, `collector_ms` the start on our clock.
  void Result(const std::string& probe, v1::Outcome o, int64_t collector_ms,
              int64_t probe_clock_ms) {
    v1::CheckResult r;
    r.set_seq(++seq_);
    r.set_target("t1");
    r.set_outcome(o);
    r.set_started_unix_ms(probe_clock_ms);
    r.set_collector_started_unix_ms(collector_ms);
    r.set_received_unix_ms(now_);
    state_.UpdateResults(probe, std::vector<v1::CheckResult>{r});
  }
  void Both(v1::Outcome o) {
    Result("p1", o, now_ - 100, now_ - 100);
    Result("p2", o, now_ - 100, now_ - 100);
  }
  std::vector<IncidentRecord> Incidents() {
    store_.CommitPending();
    std::vector<IncidentRecord> out;
    EXPECT_TRUE(store_.ListIncidents("t1", false, 0, &out).ok());
    return out;
  }
  v1::Cause Cause(const Evaluator& e) {
    auto c = e.Causes();
    return c.count("t1") ? c.at("t1").first : v1::CAUSE_UNSPECIFIED;
  }

  int64_t now_ = kStart;
  uint64_t seq_ = 0;
  ConfigSnapshot snapshot_;
  FakeStore store_;
  LiveState state_;
  Metrics metrics_{&state_};
};

TEST_F(EvaluatorTest, HysteresisThenIncidentOpenChangeClose) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  Both(v1::OUTCOME_OK);
  e->EvaluateOnce();
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
  now_ += 1000;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();  // one evaluation is not enough
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
  EXPECT_TRUE(Incidents().empty());
  now_ += 1000;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  auto inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].cause, v1::CAUSE_SSH_REFUSED);
  EXPECT_EQ(inc[0].opened_ms, now_);
  // A different failure cause changes the incident; ok closes it.
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_BANNER_TIMEOUT);
    e->EvaluateOnce();
  }
  inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_NE(inc[0].cause, v1::CAUSE_SSH_REFUSED);
  EXPECT_EQ(inc[0].changes.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_OK);
    e->EvaluateOnce();
  }
  inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].closed_ms, now_);
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
}

// The diagnosis' per-probe facts reach /metrics: a probe whose checks all
// fail with probe_error is exported as cannot_run_checks (and unhealthy),
// the other one not; neither is egress-blocked.
TEST_F(EvaluatorTest, ProbeFactsArePublishedAsMetrics) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Result("p1", v1::OUTCOME_PROBE_ERROR, now_ - 100, now_ - 100);
    Result("p2", v1::OUTCOME_OK, now_ - 100, now_ - 100);
    e->EvaluateOnce();
  }
  metrics_.SetDiagnosisSource(e.get());  // /metrics reads the published facts
  std::string text = prometheus::TextSerializer().Serialize(metrics_.Collect());
  metrics_.SetDiagnosisSource(nullptr);
  EXPECT_NE(text.find(R"(parallax_probe_cannot_run_checks{probe="p1"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(parallax_probe_cannot_run_checks{probe="p2"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_ssh_egress_blocked{probe="p1"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_ssh_egress_blocked{probe="p2"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_healthy{probe="p1"} 0)"), std::string::npos);
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
}

// Explain fills each evidence row from its probe's newest result: the
// pre-banner lines, the ICMP error that failed the connect, the traced path.
TEST_F(EvaluatorTest, ExplainCarriesPreBannerIcmpAndPathPerEvidenceRow) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    v1::CheckResult r;
    r.set_seq(++seq_);
    r.set_target("t1");
    r.set_outcome(v1::OUTCOME_TIMEOUT);
    r.set_started_unix_ms(now_ - 100);
    r.set_collector_started_unix_ms(now_ - 100);
    r.set_received_unix_ms(now_);
    r.add_pre_banner("Please wait");
    v1::IcmpError* icmp = r.mutable_liveness()->mutable_ssh_icmp_error();
    icmp->set_sender("198.51.100.9");
    icmp->set_type(3);
    icmp->set_code(1);
    v1::TcpPath* path = r.mutable_liveness()->mutable_path();
    path->set_last_answering_ttl(1);
    path->add_hops()->set_ttl(1);
    path->mutable_hops(0)->set_sender("198.51.100.1");
    path->add_hops()->set_ttl(2);
    r.mutable_liveness()->set_ssh_answered_on_port(2222);
    state_.UpdateResults("p1", std::vector<v1::CheckResult>{r});
    Result("p2", v1::OUTCOME_TIMEOUT, now_ - 100, now_ - 100);
    e->EvaluateOnce();
  }
  v1::ExplainResponse resp = e->Explain("t1");
  ASSERT_EQ(resp.verdicts_size(), 1);
  const v1::Verdict& v = resp.verdicts(0);
  ASSERT_EQ(v.evidence_size(), 2);
  const v1::EvidenceItem& p1 = v.evidence(0).probe() == "p1" ? v.evidence(0) : v.evidence(1);
  const v1::EvidenceItem& p2 = v.evidence(0).probe() == "p1" ? v.evidence(1) : v.evidence(0);
  ASSERT_EQ(p1.pre_banner_size(), 1);
  EXPECT_EQ(p1.pre_banner(0), "Please wait");
  EXPECT_EQ(p1.ssh_icmp_error().sender(), "198.51.100.9");
  EXPECT_EQ(p1.ssh_icmp_error().code(), 1u);
  EXPECT_EQ(p1.path().hops_size(), 2);
  EXPECT_EQ(p1.path().last_answering_ttl(), 1u);
  EXPECT_EQ(p1.ssh_answered_on_port(), 2222u);
  EXPECT_EQ(p2.pre_banner_size(), 0);
  EXPECT_FALSE(p2.has_ssh_icmp_error());
  EXPECT_FALSE(p2.has_path());
}

TEST_F(EvaluatorTest, FreshnessIsJudgedOnTheCollectorsClock) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  // p2's clock is 10 minutes behind: by its own timestamps every result is
  // 600 s old; on our clock it is fresh, and it counts.
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Result("p1", v1::OUTCOME_REFUSED, now_ - 100, now_ - 100);
    Result("p2", v1::OUTCOME_REFUSED, now_ - 100, now_ - 100 - 600'000);
    e->EvaluateOnce();
  }
  v1::ExplainResponse x = e->Explain("t1");
  ASSERT_EQ(x.verdicts_size(), 1);
  EXPECT_EQ(x.verdicts(0).cause(), v1::CAUSE_SSH_REFUSED);
  for (const auto& ev : x.verdicts(0).evidence()) {
    EXPECT_EQ(ev.role().rfind("agrees", 0), 0u) << ev.probe() << ": " << ev.role();
    EXPECT_LT(ev.age_s(), 1.0);
  }
  // Once p2's results stop coming, they go stale on our clock.
  now_ += 10'000;
  Result("p1", v1::OUTCOME_REFUSED, now_ - 100, now_ - 100);
  state_.ProbeSeen("p1", now_);
  e->EvaluateOnce();
  x = e->Explain("t1");
  bool p2_counted = false;
  for (const auto& ev : x.verdicts(0).evidence()) {
    if (ev.probe() == "p2") p2_counted = ev.role().rfind("agrees", 0) == 0;
  }
  EXPECT_FALSE(p2_counted);
}

TEST_F(EvaluatorTest, RestartContinuesTheOpenIncidentUntilTheProbesAreBack) {
  // Before the restart: an open ssh_refused incident, both probes active.
  store_.OpenIncident("t1", v1::CAUSE_SSH_REFUSED, kStart - 60'000, "Refused.");
  store_.CommitPending();
  ProbeState known;
  known.labels = {{"network", "a"}};
  state_.AddKnownProbe("p1", known);
  known.labels = {{"network", "b"}};
  state_.AddKnownProbe("p2", known);
  Both(v1::OUTCOME_REFUSED);
  auto e = MakeEvaluator();
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  // p1 is back first and (for a moment) reads ok: with one vantage point the
  // engine says something else, evaluation after evaluation.
  now_ += 300;
  Connect("p1", "a");
  for (int i = 0; i < 4; ++i) {
    now_ += 200;
    Result("p1", v1::OUTCOME_OK, now_ - 10, now_ - 10);
    e->EvaluateOnce();
  }
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED) << "a verdict changed during the start-up grace";
  // p2 is back; the cause is still there: the incident just continues.
  now_ += 200;
  Connect("p2", "b");
  Both(v1::OUTCOME_REFUSED);
  for (int i = 0; i < 3; ++i) {
    e->EvaluateOnce();
    now_ += 200;
    Both(v1::OUTCOME_REFUSED);
  }
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  auto inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].closed_ms, 0);
  EXPECT_EQ(inc[0].changes.size(), 1u);
}

TEST_F(EvaluatorTest, StartupGraceIsBounded) {
  store_.OpenIncident("t1", v1::CAUSE_SSH_REFUSED, kStart - 60'000, "Refused.");
  store_.CommitPending();
  ProbeState known;
  state_.AddKnownProbe("p1", known);
  state_.AddKnownProbe("p2", known);
  Both(v1::OUTCOME_REFUSED);
  auto e = MakeEvaluator();
  e->EvaluateOnce();
  Connect("p1", "a");  // p2 never comes back
  // Grace: 2 x 1 s + 500 ms. Within it nothing changes...
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Result("p1", v1::OUTCOME_OK, now_ - 10, now_ - 10);
    state_.ProbeSeen("p1", now_);
    e->EvaluateOnce();
  }
  EXPECT_EQ(Incidents()[0].closed_ms, 0);
  // ...after it, the evaluator judges what it has.
  for (int i = 0; i < 3; ++i) {
    now_ += 1000;
    Result("p1", v1::OUTCOME_OK, now_ - 10, now_ - 10);
    state_.ProbeSeen("p1", now_);
    e->EvaluateOnce();
  }
  EXPECT_NE(Cause(*e), v1::CAUSE_SSH_REFUSED);
}

TEST_F(EvaluatorTest, AFailureSeenAgainAfterUnknownContinuesItsIncident) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_REFUSED);
    e->EvaluateOnce();
  }
  ASSERT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  // Every probe goes away: no data, the cause becomes unknown...
  state_.ProbeDisconnected("p1", now_);
  state_.ProbeDisconnected("p2", now_);
  for (int i = 0; i < 3; ++i) {
    now_ += 1000;
    e->EvaluateOnce();
  }
  ASSERT_EQ(Cause(*e), v1::CAUSE_UNKNOWN);
  // ...they come back and the target still refuses: the same incident.
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_REFUSED);
    e->EvaluateOnce();
  }
  ASSERT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  auto inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].closed_ms, 0);
  EXPECT_EQ(inc[0].changes.size(), 1u);
  // Unknown again, then ok: that closes it.
  state_.ProbeDisconnected("p1", now_);
  state_.ProbeDisconnected("p2", now_);
  for (int i = 0; i < 3; ++i) {
    now_ += 1000;
    e->EvaluateOnce();
  }
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_OK);
    e->EvaluateOnce();
  }
  inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].closed_ms, now_);
}

TEST_F(EvaluatorTest, NoGraceOnAFreshStart) {
  auto e = MakeEvaluator();
  Connect("p1", "a");
  Connect("p2", "b");
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  now_ += 1000;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  EXPECT_EQ(Incidents().size(), 1u);
}

}  // namespace
}  // namespace parallax::collector
