// AdHocChecks in process: fake probe streams in a real StreamHub, a
// simulated clock (ExpireDue called by the test), the real diagnosis engine.
#include "collector/adhoc/ad_hoc_checks.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/words.h"

namespace parallax::collector {
namespace {

using std::chrono::milliseconds;

// A probe stream that records what the collector sends it.
class FakeLink : public StreamLink {
 public:
  explicit FakeLink(std::map<std::string, std::string> labels) : labels_(std::move(labels)) {}
  void Send(const v1::CollectorMessage& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(msg);
  }
  void Close(int, const std::string&) override {}
  std::map<std::string, std::string> labels() const override { return labels_; }
  std::string peer() const override { return "fake"; }
  std::vector<v1::CollectorMessage> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> labels_;
  std::vector<v1::CollectorMessage> sent_;
};

struct Recorder {
  std::vector<AdHocProbeResult> results;
  std::vector<AdHocDone> done;
  AdHocCallbacks callbacks() {
    return {[this](const AdHocProbeResult& r) { results.push_back(r); },
            [this](const AdHocDone& d) { done.push_back(d); }};
  }
};

class AdHocChecksTest : public ::testing::Test {
 protected:
  AdHocChecksTest() {
    config_ = std::make_shared<Config>();
    config_->timeout = milliseconds(2000);
    for (auto [name, network] :
         {std::pair{"p1", "isp-a"}, std::pair{"p2", "isp-b"}, std::pair{"p3", "isp-c"}}) {
      links_[name] = std::make_shared<FakeLink>(std::map<std::string, std::string>{
          {"network", network}, {"site", name == std::string("p3") ? "fra" : "ams"}});
      hub_.Register(name, links_[name]);
    }
  }

  std::unique_ptr<AdHocChecks> Make() {
    AdHocDeps deps;
    deps.hub = &hub_;
    deps.config = [this] { return ConfigSnapshot{config_, 1}; };
    deps.now_ms = [this] { return now_.load(); };
    deps.fleet = [this] { return fleet_; };
    AdHocOptions options;
    options.timer_thread = false;
    options.slack = milliseconds(1000);
    options.remember = milliseconds(60000);
    return std::make_unique<AdHocChecks>(std::move(deps), options);
  }

  // The AdHocCheck `probe` was sent last (fails the test if none).
  v1::AdHocCheck SentTo(const std::string& probe) {
    auto sent = links_[probe]->sent();
    EXPECT_FALSE(sent.empty()) << probe;
    if (sent.empty()) return {};
    EXPECT_TRUE(sent.back().has_adhoc_check());
    return sent.back().adhoc_check();
  }

  // A result as ingest hands it over (collector times stamped).
  v1::CheckResult Result(const v1::AdHocCheck& req, v1::Outcome outcome) {
    v1::CheckResult r;
    r.set_seq(++seq_);
    r.set_target(req.target().name());
    r.set_adhoc_id(req.id());
    r.set_outcome(outcome);
    r.set_started_unix_ms(now_);
    r.set_collector_started_unix_ms(now_);
    r.set_received_unix_ms(now_);
    r.set_address(req.target().host() + ":" + std::to_string(req.target().port()));
    if (outcome == v1::OUTCOME_OK) {
      r.set_connect_us(400);
      r.set_identification("SSH-2.0-OpenSSH_9.2");
    } else {
      r.set_detail("connection refused");
      r.set_error_number(111);
    }
    return r;
  }

  AdHocRequest Request(const std::string& host = "web1.example.com", uint32_t port = 22) {
    AdHocRequest r;
    r.host = host;
    r.port = port;
    r.timeout = milliseconds(2000);
    r.caller = "admin:alice";
    return r;
  }

  std::shared_ptr<Config> config_;
  StreamHub hub_;
  std::map<std::string, std::shared_ptr<FakeLink>> links_;
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::shared_ptr<const diagnosis::FleetContext> fleet_;
  uint64_t seq_ = 0;
};

TEST_F(AdHocChecksTest, FansOutToEveryConnectedProbeWithTheTargetDefaults) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request("web1.example.com", 2200), rec.callbacks(), &started, &message),
            AdHocRefusal::kNone)
      << message;
  EXPECT_EQ(started.probes, (std::vector<std::string>{"p1", "p2", "p3"}));
  EXPECT_EQ(started.target, "web1.example.com:2200");
  EXPECT_EQ(checks->running(), 1u);
  for (const char* p : {"p1", "p2", "p3"}) {
    v1::AdHocCheck req = SentTo(p);
    EXPECT_EQ(req.id(), started.id);
    EXPECT_EQ(req.target().name(), "web1.example.com:2200");
    EXPECT_EQ(req.target().host(), "web1.example.com");
    EXPECT_EQ(req.target().port(), 2200u);
    EXPECT_EQ(req.target().timeout_ms(), 2000u);
    EXPECT_GE(req.target().interval_ms(), req.target().timeout_ms());
    EXPECT_EQ(req.target().alt_ports_size(), 1);  // the config's defaults: [2222]
    EXPECT_EQ(req.target().closed_port(), 65535u);
    EXPECT_EQ(req.target().liveness_ports_size(), 2);
    EXPECT_LE(req.target().path_budget_ms(), 1000u);  // half the timeout: ends in time
  }
  EXPECT_TRUE(rec.done.empty());
}

TEST_F(AdHocChecksTest, StreamsEachResultThenTheVerdictWhenAllAnswered) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  v1::AdHocCheck req = SentTo("p1");
  // Ingest's gate: only a probe that was asked, for that target and id.
  EXPECT_TRUE(checks->Expects("p2", started.id, "web1.example.com"));
  EXPECT_FALSE(checks->Expects("p4", started.id, "web1.example.com"));
  EXPECT_FALSE(checks->Expects("p2", started.id, "other.example.com"));
  EXPECT_FALSE(checks->Expects("p2", "nosuch-1", "web1.example.com"));

  now_ += 300;
  checks->OnResult("p2", Result(req, v1::OUTCOME_OK));
  ASSERT_EQ(rec.results.size(), 1u);
  EXPECT_EQ(rec.results[0].probe, "p2");
  EXPECT_EQ(rec.results[0].labels.at("network"), "isp-b");
  EXPECT_EQ(rec.results[0].elapsed_ms, 300);
  checks->OnResult("p2", Result(req, v1::OUTCOME_OK));  // a second one from p2: ignored
  EXPECT_EQ(rec.results.size(), 1u);
  checks->OnResult("p1", Result(req, v1::OUTCOME_OK));
  EXPECT_TRUE(rec.done.empty());
  now_ += 200;
  checks->OnResult("p3", Result(req, v1::OUTCOME_OK));
  ASSERT_EQ(rec.results.size(), 3u);
  ASSERT_EQ(rec.done.size(), 1u);  // no need to wait for the deadline
  const AdHocDone& d = rec.done[0];
  EXPECT_EQ(d.verdict.cause(), v1::CAUSE_OK) << d.verdict.summary();
  EXPECT_EQ(d.verdict.target(), "web1.example.com");
  EXPECT_EQ(d.verdict.evidence_size(), 3);
  EXPECT_TRUE(d.unanswered.empty());
  EXPECT_EQ(d.elapsed_ms, 500);
  EXPECT_EQ(checks->running(), 0u);
  checks->ExpireDue();  // the deadline passing later adds nothing
  now_ += 5000;
  checks->ExpireDue();
  EXPECT_EQ(rec.done.size(), 1u);
}

TEST_F(AdHocChecksTest, TheDeadlineGivesTheVerdictAndNamesWhoDidNotAnswer) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  v1::AdHocCheck req = SentTo("p1");
  checks->OnResult("p1", Result(req, v1::OUTCOME_REFUSED));
  checks->OnResult("p2", Result(req, v1::OUTCOME_REFUSED));
  now_ += 2000 + 999;  // timeout + slack not over yet
  checks->ExpireDue();
  EXPECT_TRUE(rec.done.empty());
  now_ += 1;
  checks->ExpireDue();
  ASSERT_EQ(rec.done.size(), 1u);
  EXPECT_EQ(rec.done[0].unanswered, std::vector<std::string>{"p3"});
  EXPECT_EQ(rec.done[0].verdict.cause(), v1::CAUSE_SSH_REFUSED) << rec.done[0].verdict.summary();
  EXPECT_EQ(rec.done[0].elapsed_ms, 3000);
  // p3's late result is still stored (ingest accepts it), not delivered.
  EXPECT_TRUE(checks->Expects("p3", started.id, "web1.example.com"));
  checks->OnResult("p3", Result(req, v1::OUTCOME_OK));
  EXPECT_EQ(rec.results.size(), 2u);
  // ... until `remember` after the end.
  now_ += 60000;
  checks->ExpireDue();
  EXPECT_FALSE(checks->Expects("p3", started.id, "web1.example.com"));
}

TEST_F(AdHocChecksTest, NoAnswerAtAllIsUnknownWithEveryProbeNamed) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  now_ += 3000;
  checks->ExpireDue();
  ASSERT_EQ(rec.done.size(), 1u);
  EXPECT_EQ(rec.done[0].verdict.cause(), v1::CAUSE_UNKNOWN);
  EXPECT_EQ(rec.done[0].unanswered, (std::vector<std::string>{"p1", "p2", "p3"}));
}

TEST_F(AdHocChecksTest, TheFleetContextTellsSourceBlockFromPartial) {
  // p1 and p2 reach it, p3 times out. Whether p3 reaches other targets (the
  // fleet's facts) decides: yes -> source_block (only p3's source is
  // blocked); with no fleet context -> partial.
  auto run = [&](std::shared_ptr<const diagnosis::FleetContext> fleet) {
    fleet_ = std::move(fleet);
    auto checks = Make();
    Recorder rec;
    AdHocStarted started;
    std::string message;
    EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
    v1::AdHocCheck req = SentTo("p1");
    checks->OnResult("p1", Result(req, v1::OUTCOME_OK));
    checks->OnResult("p2", Result(req, v1::OUTCOME_OK));
    checks->OnResult("p3", Result(req, v1::OUTCOME_TIMEOUT));
    EXPECT_EQ(rec.done.size(), 1u);
    return rec.done.empty() ? v1::CAUSE_UNSPECIFIED : rec.done[0].verdict.cause();
  };
  auto ctx = std::make_shared<diagnosis::FleetContext>();
  ctx->now_ms = now_ - 1000;
  int id = 0;
  for (const char* p : {"p1", "p2", "p3"}) {
    diagnosis::ProbeFacts f;
    f.probe = p;
    f.network = std::string("isp-") + "abc"[id];
    f.network_id = id++;
    f.healthy = true;
    f.reaches_some = true;
    f.fresh = 2;
    ctx->probes.push_back(f);
    diagnosis::ProbeHealth h;
    h.probe = p;
    ctx->health.push_back(h);
  }
  EXPECT_EQ(run(ctx), v1::CAUSE_SOURCE_BLOCK);
  EXPECT_EQ(run(nullptr), v1::CAUSE_PARTIAL);
}

TEST_F(AdHocChecksTest, UnhealthyProbesAreNotAskedUnlessSelected) {
  auto ctx = std::make_shared<diagnosis::FleetContext>();
  diagnosis::ProbeFacts f;
  f.probe = "p2";
  f.network = "isp-b";
  f.healthy = false;
  f.why = diagnosis::Unhealthy::kIsolated;
  ctx->probes.push_back(f);
  fleet_ = ctx;
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  EXPECT_EQ(started.probes, (std::vector<std::string>{"p1", "p3"}));
  AdHocRequest named = Request();
  named.probes = "p2";
  ASSERT_EQ(checks->Start(named, rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  EXPECT_EQ(started.probes, std::vector<std::string>{"p2"});
}

TEST_F(AdHocChecksTest, SelectorPicksByLabelsAndNames) {
  config_->check.max_concurrent = 100;
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  auto asked = [&](const std::string& selector) {
    AdHocRequest r = Request();
    r.probes = selector;
    AdHocRefusal why = checks->Start(r, rec.callbacks(), &started, &message);
    return why == AdHocRefusal::kNone ? started.probes : std::vector<std::string>{"refused"};
  };
  EXPECT_EQ(asked("network=isp-a"), std::vector<std::string>{"p1"});
  EXPECT_EQ(asked("site=ams"), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(asked("p2,p3"), (std::vector<std::string>{"p2", "p3"}));
  EXPECT_EQ(asked("site=ams, p2 ,p3"), std::vector<std::string>{"p2"});
  EXPECT_EQ(asked("network=isp-z"), std::vector<std::string>{"refused"});
  EXPECT_NE(message.find("no connected probe matches probes \"network=isp-z\""), std::string::npos)
      << message;
  AdHocRequest bad = Request();
  bad.probes = "p 1";
  EXPECT_EQ(checks->Start(bad, rec.callbacks(), &started, &message),
            AdHocRefusal::kInvalidArgument);
  EXPECT_NE(message.find("\"p 1\""), std::string::npos) << message;
}

TEST_F(AdHocChecksTest, InvalidHostPortAndTimeoutAreNamed) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  struct Case {
    AdHocRequest req;
    std::string want;
  };
  std::vector<Case> cases;
  cases.push_back({Request("web 1"), "host \"web 1\""});
  cases.push_back({Request(""), "host \"\""});
  cases.push_back({Request("-oProxyCommand=x"), "host \"-oProxyCommand=x\""});
  cases.push_back({Request("fe80::1::2"), "host \"fe80::1::2\" is not an IPv6 address"});
  cases.push_back({Request(std::string(254, 'a')), "must be 1..253 characters"});
  cases.push_back({Request("web1", 70000), "port 70000 is not in 1..65535"});
  AdHocRequest slow = Request();
  slow.timeout = milliseconds(31000);
  cases.push_back({slow, "timeout 31000ms is outside 100ms..30000ms (check.max_timeout"});
  for (const Case& c : cases) {
    EXPECT_EQ(checks->Start(c.req, rec.callbacks(), &started, &message),
              AdHocRefusal::kInvalidArgument)
        << c.want;
    EXPECT_NE(message.find(c.want), std::string::npos) << message;
  }
  for (const char* links : {"p1", "p2", "p3"}) EXPECT_TRUE(links_[links]->sent().empty());
  EXPECT_EQ(checks->Start(Request("2001:db8::7"), rec.callbacks(), &started, &message),
            AdHocRefusal::kNone)
      << message;
}

TEST_F(AdHocChecksTest, ConcurrencyCapAndPerCallerRateLimit) {
  config_->check.max_concurrent = 2;
  config_->check.per_caller_per_minute = 3;
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kTooMany);
  EXPECT_NE(message.find("check.max_concurrent 2"), std::string::npos) << message;
  now_ += 3000;  // both end at their deadline
  checks->ExpireDue();
  EXPECT_EQ(rec.done.size(), 2u);
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  now_ += 3000;
  checks->ExpireDue();
  // alice used her 3 of the minute (1 token came back over 6 s: 0.3).
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message),
            AdHocRefusal::kRateLimited);
  EXPECT_NE(message.find("at most 3 checks per minute per caller"), std::string::npos) << message;
  AdHocRequest bob = Request();
  bob.caller = "admin:bob";
  EXPECT_EQ(checks->Start(bob, rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  now_ += 3000;
  checks->ExpireDue();
  now_ += 14000;  // 20 s after her last: one token back
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone)
      << message;
}

TEST_F(AdHocChecksTest, CancelStopsTheCallbacks) {
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  ASSERT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNone);
  v1::AdHocCheck req = SentTo("p1");
  checks->Cancel(started.id);
  EXPECT_EQ(checks->running(), 0u);
  EXPECT_TRUE(checks->Expects("p1", started.id, "web1.example.com"));  // still stored
  checks->OnResult("p1", Result(req, v1::OUTCOME_OK));
  now_ += 5000;
  checks->ExpireDue();
  EXPECT_TRUE(rec.results.empty());
  EXPECT_TRUE(rec.done.empty());
}

TEST_F(AdHocChecksTest, NoProbeConnected) {
  for (const char* p : {"p1", "p2", "p3"}) hub_.Unregister(p, links_[p].get());
  auto checks = Make();
  Recorder rec;
  AdHocStarted started;
  std::string message;
  EXPECT_EQ(checks->Start(Request(), rec.callbacks(), &started, &message), AdHocRefusal::kNoProbes);
  EXPECT_EQ(message, "no connected, healthy probe to ask");
}

TEST(ProbeSelectorTest, ParsesAndMatches) {
  ProbeSelector s;
  ASSERT_TRUE(ParseProbeSelector("", &s).ok());
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.Matches("any", {}));
  ASSERT_TRUE(ParseProbeSelector("network=isp-a,region=eu", &s).ok());
  EXPECT_TRUE(s.Matches("x", {{"network", "isp-a"}, {"region", "eu"}, {"site", "f"}}));
  EXPECT_FALSE(s.Matches("x", {{"network", "isp-a"}}));
  EXPECT_FALSE(ParseProbeSelector("=x", &s).ok());
  EXPECT_FALSE(ParseProbeSelector("a,,b", &s).ok());
  Status st = ParseProbeSelector("p\x1b[31m", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find('\x1b'), std::string::npos) << st.message();
}

TEST(AdHocTargetNameTest, PortOnlyWhenNot22) {
  EXPECT_EQ(AdHocTargetName("h.example", 22), "h.example");
  EXPECT_EQ(AdHocTargetName("h.example", 2222), "h.example:2222");
}

}  // namespace
}  // namespace parallax::collector
