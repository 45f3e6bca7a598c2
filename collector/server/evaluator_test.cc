// Evaluator on the in-memory FakeStore and a simulated clock: hysteresis,
// incidents opened, changed and closed, the collector's clock for freshness,
// seamless restarts (no verdict change until the probes are back), and the
// incremental evaluation against the full one on randomized inputs.
#include "collector/server/evaluator.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <random>
#include <tuple>

#include "collector/store/fake_store.h"
#include "common/log.h"

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
        &store_, &world_, &metrics_, [this] { return snapshot_; }, [this] { return now_; });
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
  // Before a restart: an open ssh_refused incident on t1, p1 and p2 known.
  void OpenIncidentWithKnownProbes() {
    store_.OpenIncident("t1", v1::CAUSE_SSH_REFUSED, kStart - 60'000, "Refused.");
    store_.CommitPending();
    ProbeState known;
    state_.AddKnownProbe("p1", known);
    state_.AddKnownProbe("p2", known);
  }
  v1::Cause Cause(const Evaluator&) {
    auto c = world_.Causes();
    return c.count("t1") ? c.at("t1").first : v1::CAUSE_UNSPECIFIED;
  }

  int64_t now_ = kStart;
  uint64_t seq_ = 0;
  ConfigSnapshot snapshot_;
  FakeStore store_;
  World world_;
  LiveState& state_ = world_.live();
  Metrics metrics_{&state_};
};

// Several collectors on one database (set_leadership): a follower evaluates
// nothing, records no incident and publishes no verdict; on becoming leader
// it starts over from the store's open incidents (which another leader
// opened), continuing them instead of opening new ones.
TEST_F(EvaluatorTest, OnlyTheLeaderEvaluatesAndANewLeaderContinuesOpenIncidents) {
  auto e = MakeEvaluator();
  bool leader = false;
  int steps = 0;
  e->set_leadership([&] {
    ++steps;
    return leader;
  });
  Connect("p1", "a");
  Connect("p2", "b");
  for (int i = 0; i < 3; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_REFUSED);
    e->EvaluateOnce();
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(world_.verdicts()->evaluated_ms, 0);  // nothing published
  EXPECT_EQ(Cause(*e), v1::CAUSE_UNSPECIFIED);
  EXPECT_TRUE(Incidents().empty());
  // The leader (another collector) opened an incident meanwhile.
  store_.OpenIncident("t1", v1::CAUSE_SSH_REFUSED, now_, "refused");
  store_.CommitPending();
  leader = true;
  now_ += 1000;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);  // seeded from the open incident
  now_ += 1000;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  EXPECT_EQ(Incidents().size(), 1u);  // continued, not opened again
  // Leadership lost: the verdicts are withdrawn, nothing is recorded.
  leader = false;
  for (int i = 0; i < 3; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_OK);
    e->EvaluateOnce();
  }
  EXPECT_EQ(Cause(*e), v1::CAUSE_UNSPECIFIED);
  ASSERT_EQ(Incidents().size(), 1u);
  EXPECT_EQ(Incidents()[0].closed_ms, 0);
}

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
  // The world publishes the open incident with the verdicts.
  std::shared_ptr<const Verdicts> published = world_.verdicts();
  EXPECT_EQ(published->evaluated_ms, now_);
  EXPECT_EQ(published->open_incidents,
            (std::map<std::string, v1::Cause>{{"t1", v1::CAUSE_SSH_REFUSED}}));
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
  EXPECT_EQ(world_.verdicts()->open_incidents.at("t1"), inc[0].cause);
  // A snapshot taken earlier stays what it was (immutable once published).
  EXPECT_EQ(published->open_incidents.at("t1"), v1::CAUSE_SSH_REFUSED);
  for (int i = 0; i < 2; ++i) {
    now_ += 1000;
    Both(v1::OUTCOME_OK);
    e->EvaluateOnce();
  }
  inc = Incidents();
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].closed_ms, now_);
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
  EXPECT_TRUE(world_.verdicts()->open_incidents.empty());
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
  metrics_.SetDiagnosisSource(&world_);  // /metrics reads the published facts
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
  v1::ExplainResponse resp = world_.Explain("t1");
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
  v1::ExplainResponse x = world_.Explain("t1");
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
  x = world_.Explain("t1");
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

TEST_F(EvaluatorTest, RestartAfterAStoreThatLaggedStillWaitsForTheProbes) {
  // The newest stored results are 10 s old (the store lagged behind its
  // queue before the kill): the probes were active all the same.
  OpenIncidentWithKnownProbes();
  Result("p1", v1::OUTCOME_REFUSED, now_ - 10'000, now_ - 10'000);
  Result("p2", v1::OUTCOME_REFUSED, now_ - 10'500, now_ - 10'500);
  auto e = MakeEvaluator();
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED) << "the grace did not hold the verdict";
  now_ += 1000;
  e->EvaluateOnce();
  EXPECT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED) << "the grace did not hold the verdict";
}

TEST_F(EvaluatorTest, StartupGraceIsBounded) {
  OpenIncidentWithKnownProbes();
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

// One collector's evaluator world: its own live state, store and metrics.
struct Side {
  Side(ConfigSnapshot* snapshot, int64_t* now, int full_every) {
    evaluator = std::make_unique<Evaluator>(
        &store, &world, &metrics, [snapshot] { return *snapshot; }, [now] { return *now; });
    evaluator->set_full_every(full_every);
  }
  FakeStore store;
  World world;
  LiveState& state = world.live();
  Metrics metrics;
  std::unique_ptr<Evaluator> evaluator;
};

std::vector<std::tuple<std::string, int64_t, int64_t, int, size_t>> IncidentsOf(FakeStore& s) {
  s.CommitPending();
  std::vector<IncidentRecord> all;
  EXPECT_TRUE(s.ListIncidents("", false, 0, &all).ok());
  std::vector<std::tuple<std::string, int64_t, int64_t, int, size_t>> out;
  for (const IncidentRecord& i : all)
    out.emplace_back(i.target, i.opened_ms, i.closed_ms, static_cast<int>(i.cause),
                     i.changes.size());
  std::sort(out.begin(), out.end());
  return out;
}

void ExpectSameExplain(const v1::ExplainResponse& want, const v1::ExplainResponse& got,
                       const std::string& where) {
  ASSERT_EQ(got.verdicts_size(), want.verdicts_size()) << where;
  for (int i = 0; i < want.verdicts_size(); ++i) {
    const v1::Verdict& a = want.verdicts(i);
    const v1::Verdict& b = got.verdicts(i);
    const std::string at = where + " " + a.target();
    EXPECT_EQ(b.target(), a.target()) << at;
    EXPECT_EQ(b.cause(), a.cause()) << at;
    EXPECT_EQ(b.confidence(), a.confidence()) << at;
    EXPECT_EQ(b.summary(), a.summary()) << at;
    EXPECT_EQ(b.since_unix_ms(), a.since_unix_ms()) << at;
    ASSERT_EQ(b.evidence_size(), a.evidence_size()) << at;
    for (int e = 0; e < a.evidence_size(); ++e) {
      EXPECT_EQ(b.evidence(e).probe(), a.evidence(e).probe()) << at;
      EXPECT_EQ(b.evidence(e).role(), a.evidence(e).role()) << at;
      EXPECT_EQ(b.evidence(e).outcome(), a.evidence(e).outcome()) << at;
      EXPECT_EQ(b.evidence(e).detail(), a.evidence(e).detail()) << at;
      EXPECT_EQ(b.evidence(e).age_s(), a.evidence(e).age_s()) << at;
      EXPECT_EQ(b.evidence(e).network(), a.evidence(e).network()) << at;
    }
    EXPECT_EQ(std::vector<std::string>(b.disagreeing().begin(), b.disagreeing().end()),
              std::vector<std::string>(a.disagreeing().begin(), a.disagreeing().end()))
        << at;
  }
  ASSERT_EQ(got.probes_size(), want.probes_size()) << where;
  for (int i = 0; i < want.probes_size(); ++i) {
    EXPECT_EQ(got.probes(i).probe(), want.probes(i).probe()) << where;
    EXPECT_EQ(got.probes(i).healthy(), want.probes(i).healthy()) << where;
    EXPECT_EQ(got.probes(i).reason(), want.probes(i).reason()) << where;
  }
}

// The incremental evaluation (only changed or expiring targets re-diagnosed,
// no periodic full pass) gives the verdicts, ages, probe health and incidents
// of a full evaluation every time, on randomized fleets: probes connect,
// disconnect, change networks, go silent; results change, repeat or stop;
// time jumps by less or more than the stale window; hysteresis 1-3.
TEST(EvaluatorIncrementalTest, SameVerdictsAndIncidentsAsFullOnRandomizedInputs) {
  SetLogLevel(LogLevel::kError);  // thousands of transitions
  size_t partial_passes = 0, skipped = 0, transitions_seen = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    auto config = std::make_shared<Config>();
    const int targets = uniform(2, 8), probes = uniform(2, 6);
    for (int i = 0; i < targets; ++i) {
      TargetConfig t;
      t.name = "t" + std::to_string(i);
      t.host = "192.0.2." + std::to_string(i + 1);
      t.interval = std::chrono::milliseconds(uniform(0, 1) ? 1000 : 2000);
      t.timeout = std::chrono::milliseconds(500);
      config->targets.push_back(t);
    }
    config->diagnosis.hysteresis = uniform(1, 3);
    ConfigSnapshot snapshot{config, 1};
    int64_t now = kStart;
    Side inc(&snapshot, &now, /*full_every=*/0), full(&snapshot, &now, /*full_every=*/1);
    const char* networks[] = {"a", "b", "c", ""};
    const v1::Outcome outcomes[] = {v1::OUTCOME_OK,
                                    v1::OUTCOME_OK,
                                    v1::OUTCOME_REFUSED,
                                    v1::OUTCOME_TIMEOUT,
                                    v1::OUTCOME_BANNER_TIMEOUT,
                                    v1::OUTCOME_PROBE_ERROR};
    std::vector<int> probe_mood(probes);  // a probe's usual outcome, so causes form
    std::vector<int> target_mood(targets);
    uint64_t seq = 0;
    for (int step = 0; step < 60; ++step) {
      const std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      // Time moves on: usually a period, sometimes past the stale window.
      now += uniform(0, 9) == 0 ? uniform(4000, 9000) : uniform(100, 1200);
      for (int p = 0; p < probes; ++p) {
        const std::string name = "p" + std::to_string(p);
        int event = uniform(0, 39);
        if (step == 0 || event == 0) {  // (re)connects, maybe to another network
          v1::Hello h;
          h.set_probe_name(name);
          std::string net = networks[uniform(0, 3)];
          if (!net.empty()) (*h.mutable_labels())["network"] = net;
          inc.state.ProbeConnected(h, "peer", now);
          full.state.ProbeConnected(h, "peer", now);
          probe_mood[p] = uniform(0, 2);
        } else if (event == 1) {
          inc.state.ProbeDisconnected(name, now);
          full.state.ProbeDisconnected(name, now);
        } else if (event == 2) {
          continue;  // silent this step
        } else if (event == 3) {
          inc.state.ProbeSeen(name, now);
          full.state.ProbeSeen(name, now);
          continue;
        }
        if (uniform(0, 9) == 0) target_mood[uniform(0, targets - 1)] = uniform(0, 5);
        // Results for a random subset of the targets.
        for (int t = 0; t < targets; ++t) {
          if (uniform(0, 2) != 0) continue;
          v1::CheckResult r;
          r.set_seq(++seq);
          r.set_target("t" + std::to_string(t));
          int o = uniform(0, 9) == 0 ? uniform(0, 5) : probe_mood[p] == 2 ? 5 : target_mood[t];
          r.set_outcome(outcomes[o]);
          if (r.outcome() == v1::OUTCOME_TIMEOUT && uniform(0, 1)) {
            r.mutable_liveness()->set_icmp_attempted(true);
            r.mutable_liveness()->set_icmp_reply(true);
          }
          if (r.outcome() == v1::OUTCOME_PROBE_ERROR) r.set_detail("out of descriptors");
          r.set_connect_us(uniform(100, 5000));
          const int64_t at = now - uniform(0, 300);
          r.set_started_unix_ms(at + uniform(-600000, 600000));  // the probe's clock
          r.set_collector_started_unix_ms(at);
          r.set_received_unix_ms(now);
          inc.state.UpdateResults(name, std::vector<v1::CheckResult>{r});
          full.state.UpdateResults(name, std::vector<v1::CheckResult>{r});
        }
      }
      inc.evaluator->EvaluateOnce();
      full.evaluator->EvaluateOnce();
      ASSERT_TRUE(full.evaluator->last_pass().full);
      if (!inc.evaluator->last_pass().full) {
        ++partial_passes;
        if (inc.evaluator->last_pass().rediagnosed < static_cast<size_t>(targets)) ++skipped;
      }
      ASSERT_EQ(inc.world.Causes(), full.world.Causes()) << where;
      ExpectSameExplain(full.world.Explain(""), inc.world.Explain(""), where);
      auto incidents = IncidentsOf(full.store);
      ASSERT_EQ(IncidentsOf(inc.store), incidents) << where;
      transitions_seen = std::max(transitions_seen, incidents.size());
      if (HasFailure()) return;
    }
  }
  SetLogLevel(LogLevel::kInfo);
  // The comparison means something: incremental passes happened, most of
  // them skipped targets, and incidents were opened.
  EXPECT_GT(partial_passes, 1000u);
  EXPECT_GT(skipped, 300u);
  EXPECT_GT(transitions_seen, 3u);
}

// A periodic full evaluation (the safety net) and a reload run in full; the
// evaluations in between re-diagnose only what changed.
TEST_F(EvaluatorTest, FullEvaluationEveryNAndOnReload) {
  auto e = MakeEvaluator();
  e->set_full_every(3);
  Connect("p1", "a");
  Connect("p2", "b");
  Both(v1::OUTCOME_OK);
  e->EvaluateOnce();
  EXPECT_TRUE(e->last_pass().full);  // the first one
  now_ += 100;
  e->EvaluateOnce();
  EXPECT_FALSE(e->last_pass().full);
  EXPECT_EQ(e->last_pass().rediagnosed, 0u);  // nothing changed
  now_ += 100;
  Both(v1::OUTCOME_OK);
  e->EvaluateOnce();
  EXPECT_FALSE(e->last_pass().full);
  EXPECT_EQ(e->last_pass().rediagnosed, 1u);  // t1's results changed
  now_ += 100;
  e->EvaluateOnce();
  EXPECT_TRUE(e->last_pass().full);  // the third since the last full one
  // A reload (a new config snapshot) runs a full evaluation.
  now_ += 100;
  snapshot_ = {std::make_shared<Config>(*snapshot_.config), 2};
  e->EvaluateOnce();
  EXPECT_TRUE(e->last_pass().full);
  EXPECT_EQ(Cause(*e), v1::CAUSE_OK);
}

// A result that goes stale re-diagnoses its target at the evaluation after
// its deadline, with nothing else changed.
TEST_F(EvaluatorTest, ExpiringResultsAreRediagnosedWithoutAnyChange) {
  auto e = MakeEvaluator();
  e->set_full_every(0);
  Connect("p1", "a");
  Connect("p2", "b");
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  now_ += 100;
  Both(v1::OUTCOME_REFUSED);
  e->EvaluateOnce();
  ASSERT_EQ(Cause(*e), v1::CAUSE_SSH_REFUSED);
  // The window is 3 x 1 s + 500 ms; the probes stay connected and seen.
  for (int i = 0; i < 4; ++i) {
    now_ += 1500;
    state_.ProbeSeen("p1", now_);
    state_.ProbeSeen("p2", now_);
    e->EvaluateOnce();
    EXPECT_FALSE(e->last_pass().full);
    // Nothing to do until the results' deadline (received + 3.5 s) passed.
    EXPECT_EQ(e->last_pass().rediagnosed, i == 2 ? 1u : 0u) << i;
  }
  EXPECT_EQ(Cause(*e), v1::CAUSE_UNKNOWN);  // stale: no data (after 2 evaluations)
}

}  // namespace
}  // namespace parallax::collector
