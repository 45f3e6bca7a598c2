// Table tests of the diagnosis engine: every cause, the ambiguous cases,
// probe health, freshness and confidence.
#include "collector/diagnosis/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "collector/diagnosis/classify.h"
#include "collector/diagnosis/fleet.h"
#include "common/words.h"

namespace parallax::collector::diagnosis {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

struct Obs {
  v1::Outcome outcome = v1::OUTCOME_OK;
  enum Live { kNotTried, kDead, kPing, kPort } live = kNotTried;
  int64_t age_ms = 500;
};

Obs Ok() { return {v1::OUTCOME_OK}; }
Obs O(v1::Outcome o, Obs::Live live = Obs::kNotTried) { return {o, live}; }

v1::CheckResult MakeResult(const std::string& target, const Obs& obs) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_outcome(obs.outcome);
  // The probe's own clock is wrong on purpose: the engine must judge by the
  // receive time only.
  r.set_started_unix_ms(kNow - obs.age_ms - 600'000);
  r.set_connect_us(obs.outcome == v1::OUTCOME_OK ? 1200 : 0);
  if (obs.outcome == v1::OUTCOME_OK) r.set_identification("SSH-2.0-OpenSSH_9.2p1");
  v1::Liveness* l = r.mutable_liveness();
  switch (obs.live) {
    case Obs::kNotTried:
      break;
    case Obs::kDead:
      l->set_icmp_attempted(true);
      l->set_icmp_error("timeout");
      l->add_ports()->set_port(80);
      l->mutable_ports(0)->set_outcome(v1::OUTCOME_TIMEOUT);
      break;
    case Obs::kPing:
      l->set_icmp_attempted(true);
      l->set_icmp_reply(true);
      break;
    case Obs::kPort:
      l->add_ports()->set_port(80);
      l->mutable_ports(0)->set_outcome(v1::OUTCOME_OK);
      break;
  }
  return r;
}

// Replaces or inserts `o` in t.results, keeping them ordered by probe.
void SetResult(TargetInput& t, Observation o) {
  auto it =
      std::lower_bound(t.results.begin(), t.results.end(), o.probe,
                       [](const Observation& a, const std::string& p) { return a.probe < p; });
  if (it != t.results.end() && it->probe == o.probe) {
    *it = std::move(o);
  } else {
    t.results.insert(it, std::move(o));
  }
}

// A world of four probes in three networks: a1 (isp-a), b1 and b2 (isp-b),
// c1 (isp-c), checking targets t1..t3 every second.
class World {
 public:
  World() {
    input_.now_ms = kNow;
    AddProbe("a1", "isp-a");
    AddProbe("b1", "isp-b");
    AddProbe("b2", "isp-b");
    AddProbe("c1", "isp-c");
    for (const char* t : {"t1", "t2", "t3"}) AddTarget(t);
  }
  void AddProbe(const std::string& name, const std::string& network) {
    ProbeInput p;
    if (!network.empty()) p.labels["network"] = network;
    p.connected = true;
    p.last_seen_ms = kNow - 200;
    input_.probes[name] = p;
  }
  void AddTarget(const std::string& name) {
    TargetInput t;
    t.name = name;
    t.host = name + ".example";
    t.interval_ms = 1000;
    t.timeout_ms = 500;
    input_.targets.push_back(t);
  }
  TargetInput& Target(const std::string& name) {
    for (TargetInput& t : input_.targets) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no target " + name);
  }
  // Every probe reads SSH from every target.
  World& AllOk() {
    for (TargetInput& t : input_.targets) {
      for (const auto& [p, _] : input_.probes) See(p, t.name, Ok());
    }
    return *this;
  }
  World& See(const std::string& probe, const std::string& target, Obs obs) {
    v1::CheckResult& stored = results_[{target, probe}];
    stored = MakeResult(target, obs);
    SetResult(Target(target), {probe, &stored, kNow - obs.age_ms});
    return *this;
  }
  World& SeeAll(const std::string& target, Obs obs) {
    for (const auto& [p, _] : input_.probes) See(p, target, obs);
    return *this;
  }
  Input& input() { return input_; }
  Output Run() { return Diagnose(input_); }

 private:
  Input input_;
  std::map<std::pair<std::string, std::string>, v1::CheckResult> results_;  // (target, probe)
};

const Verdict& VerdictFor(const Output& out, const std::string& target) {
  for (const Verdict& v : out.verdicts) {
    if (v.target == target) return v;
  }
  throw std::runtime_error("no verdict for " + target);
}

const ProbeHealth& HealthOf(const Output& out, const std::string& probe) {
  for (const ProbeHealth& p : out.probes) {
    if (p.probe == probe) return p;
  }
  throw std::runtime_error("no probe " + probe);
}

std::string CauseOf(const Output& out, const std::string& target) {
  return std::string(CauseWord(VerdictFor(out, target).cause));
}

// One row per cause: how t1 is seen from every probe, the cause expected.
struct Row {
  const char* name;
  std::function<void(World&)> fault;
  const char* cause;
};

TEST(DiagnoseTable, EveryCause) {
  std::vector<Row> rows = {
      {"all ok", [](World&) {}, "ok"},
      {"sshd stopped: refused everywhere", [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_REFUSED)); },
       "ssh_refused"},
      {"DROP firewall, ping answers",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_TIMEOUT, Obs::kPing)); }, "firewall_block"},
      {"DROP firewall, port 80 answers",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_TIMEOUT, Obs::kPort)); }, "firewall_block"},
      {"REJECT with ICMP admin-prohibited, ping answers",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_HOST_UNREACHABLE, Obs::kPing)); },
       "firewall_block"},
      {"offline: nothing answers",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead)); }, "host_offline"},
      {"offline: gateway says host unreachable",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_HOST_UNREACHABLE, Obs::kDead)); },
       "host_offline"},
      {"timeouts without liveness evidence",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_TIMEOUT)); }, "host_offline"},
      {"tarpit: banner timeout", [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_BANNER_TIMEOUT)); },
       "ssh_unresponsive"},
      {"MaxStartups: closed and reset",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_CLOSED));
         w.See("a1", "t1", O(v1::OUTCOME_RESET));
       },
       "ssh_unresponsive"},
      {"HTTP on port 22", [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_NOT_SSH)); }, "not_ssh"},
      {"name does not resolve", [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_DNS_ERROR)); },
       "dns_error"},
      {"fail2ban bans b1 (drop)",
       [](World& w) { w.See("b1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead)); }, "source_block"},
      {"firewall rejects c1", [](World& w) { w.See("c1", "t1", O(v1::OUTCOME_REFUSED)); },
       "source_block"},
      {"isp-b blocks SSH to everything",
       [](World& w) {
         for (const char* t : {"t1", "t2", "t3"}) {
           w.See("b1", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
           w.See("b2", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
         }
       },
       "isp_block"},
      {"mixed failures",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
         w.See("c1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
       },
       "partial"},
      {"no fresh results", [](World& w) { w.Target("t1").results.clear(); }, "unknown"},
  };
  for (const Row& row : rows) {
    World w;
    w.AllOk();
    row.fault(w);
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(CauseWord(v.cause), row.cause) << row.name << ": " << v.summary;
    EXPECT_FALSE(v.summary.empty()) << row.name;
    if (v.cause != v1::CAUSE_OK) {
      EXPECT_FALSE(v.remediation.empty()) << row.name;
    }
    // The other targets are untouched by a fault on t1 (isp_block excepted).
    if (std::string(row.cause) != "isp_block") {
      EXPECT_EQ(CauseOf(out, "t2"), "ok") << row.name << ": " << VerdictFor(out, "t2").summary;
    }
    for (const ProbeHealth& p : out.probes) EXPECT_TRUE(p.healthy) << row.name << " " << p.probe;
  }
}

TEST(Diagnose, IspBlockNamesTheNetworkOnEveryTarget) {
  World w;
  w.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) {
    w.See("b1", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
    w.See("b2", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  }
  Output out = w.Run();
  EXPECT_EQ(out.blocked_networks, std::vector<std::string>{"isp-b"});
  for (const char* t : {"t1", "t2", "t3"}) {
    const Verdict& v = VerdictFor(out, t);
    EXPECT_EQ(v.cause, v1::CAUSE_ISP_BLOCK) << t;
    EXPECT_EQ(v.blocked_networks, std::vector<std::string>{"isp-b"});
    EXPECT_NE(v.summary.find("isp-b"), std::string::npos) << v.summary;
    // The probes that reach the target support the verdict too.
    EXPECT_GT(v.confidence, 0.9);
  }
}

TEST(Diagnose, SourceBlockCountsEveryVantagePointAsSupport) {
  World w;
  w.AllOk().See("b1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
  Output out = w.Run();  // kept: v refers into it
  const Verdict& v = VerdictFor(out, "t1");
  ASSERT_EQ(v.cause, v1::CAUSE_SOURCE_BLOCK);
  EXPECT_GT(v.confidence, 0.9);
  EXPECT_NE(v.summary.find("b1 (isp-b), which reaches other targets"), std::string::npos)
      << v.summary;
  EXPECT_EQ(v.summary.find("one vantage point"), std::string::npos) << v.summary;
}

TEST(Diagnose, FaultBehindABlockedNetworkIsStillNamed) {
  World w;
  w.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) {
    w.See("b1", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
    w.See("b2", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  }
  w.See("a1", "t1", O(v1::OUTCOME_REFUSED)).See("c1", "t1", O(v1::OUTCOME_REFUSED));
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_SSH_REFUSED) << v.summary;
  EXPECT_NE(v.summary.find("set aside"), std::string::npos) << v.summary;
}

TEST(Diagnose, SiteDownIsAProbeProblemNotATargetOutage) {
  World w;
  w.AllOk();
  // c1 lost its uplink: disconnected, its last results are failures.
  for (const char* t : {"t1", "t2", "t3"})
    w.See("c1", t, O(v1::OUTCOME_NETWORK_UNREACHABLE, Obs::kDead));
  w.input().probes["c1"].connected = false;
  Output out = w.Run();
  for (const char* t : {"t1", "t2", "t3"}) EXPECT_EQ(CauseOf(out, t), "ok") << t;
  EXPECT_FALSE(HealthOf(out, "c1").healthy);
  EXPECT_NE(HealthOf(out, "c1").reason.find("not connected"), std::string::npos);
}

TEST(Diagnose, IsolatedButConnectedProbeIsUnhealthy) {
  World w;
  w.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) w.See("c1", t, O(v1::OUTCOME_TIMEOUT, Obs::kDead));
  Output out = w.Run();
  for (const char* t : {"t1", "t2", "t3"}) EXPECT_EQ(CauseOf(out, t), "ok") << t;
  EXPECT_FALSE(HealthOf(out, "c1").healthy);
  EXPECT_NE(HealthOf(out, "c1").reason.find("own network"), std::string::npos);
}

TEST(Diagnose, SilentProbeIsStaleAndItsResultsAreExcluded) {
  World w;
  w.AllOk();
  w.input().probes["a1"].last_seen_ms = kNow - 60'000;
  w.See("a1", "t1", {v1::OUTCOME_REFUSED, Obs::kNotTried, 60'000});
  Output out = w.Run();
  EXPECT_FALSE(HealthOf(out, "a1").healthy);
  EXPECT_NE(HealthOf(out, "a1").reason.find("nothing received"), std::string::npos);
  EXPECT_EQ(CauseOf(out, "t1"), "ok");
}

TEST(Diagnose, StaleResultsAreNotEvidence) {
  World w;
  w.AllOk();
  for (const auto& p : {"a1", "b1", "b2", "c1"})
    w.See(p, "t1", {v1::OUTCOME_OK, Obs::kNotTried, 10'000});
  Output out = w.Run();
  EXPECT_EQ(CauseOf(out, "t1"), "unknown");
  for (const Evidence& e : VerdictFor(out, "t1").evidence)
    EXPECT_EQ(e.role_word(), "excluded: stale");
}

TEST(Diagnose, OneTargetOnlyCannotTellIspFromSourceBlock) {
  World w;
  w.input().targets.resize(1);
  w.AllOk();
  w.See("b1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kPing))
      .See("b2", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_PARTIAL) << v.summary;
  EXPECT_NE(v.summary.find("isp_block"), std::string::npos);
  EXPECT_NE(v.summary.find("source_block"), std::string::npos);
  EXPECT_EQ(v.disagreeing, (std::vector<std::string>{"b1", "b2"}));
}

TEST(Diagnose, ConfidenceGrowsWithVantagePointsAndOneIsSaid) {
  World one;
  one.input().probes.erase("b1");
  one.input().probes.erase("b2");
  one.input().probes.erase("c1");
  one.SeeAll("t1", O(v1::OUTCOME_REFUSED));
  Output out1 = one.Run();
  const Verdict& v1_ = VerdictFor(out1, "t1");
  EXPECT_EQ(v1_.cause, v1::CAUSE_SSH_REFUSED);
  EXPECT_NE(v1_.summary.find("one vantage point"), std::string::npos) << v1_.summary;

  World four;
  four.AllOk().SeeAll("t1", O(v1::OUTCOME_REFUSED));
  Output out4 = four.Run();  // kept: v4 refers into it
  const Verdict& v4 = VerdictFor(out4, "t1");
  EXPECT_GT(v4.confidence, v1_.confidence);
  EXPECT_LE(v4.confidence, 0.99);
  EXPECT_EQ(v4.evidence.size(), 4u);
}

TEST(Diagnose, ProbesWithoutNetworkLabelAreNetworksOfTheirOwn) {
  World w;
  w.input().probes.clear();
  w.AddProbe("x", "");
  w.AddProbe("y", "");
  w.AddProbe("z", "");
  w.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) w.See("x", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  Output out = w.Run();
  EXPECT_EQ(out.blocked_networks, std::vector<std::string>{"probe:x"});
  EXPECT_EQ(CauseOf(out, "t1"), "isp_block");
}

TEST(Diagnose, IsPure) {
  World w;
  w.AllOk().SeeAll("t1", O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  Output a = w.Run(), b = w.Run();
  ASSERT_EQ(a.verdicts.size(), b.verdicts.size());
  for (size_t i = 0; i < a.verdicts.size(); ++i) {
    EXPECT_EQ(a.verdicts[i].cause, b.verdicts[i].cause);
    EXPECT_EQ(a.verdicts[i].summary, b.verdicts[i].summary);
    EXPECT_EQ(a.verdicts[i].confidence, b.verdicts[i].confidence);
  }
}

// Classification alone (no wording) names the cause and a role per row, for
// every row of the table, and agrees with the worded verdict.
TEST(Classify, GivesCauseAndRolesWithoutWording) {
  struct Case {
    const char* name;
    std::function<void(World&)> fault;
    v1::Cause cause;
    std::map<std::string, v1::Role> roles;  // of t1's rows, by probe
  };
  auto isp = [](World& w) {
    for (const char* t : {"t1", "t2", "t3"}) {
      w.See("b1", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
      w.See("b2", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
    }
  };
  std::vector<Case> cases = {
      {"ok",
       [](World&) {},
       v1::CAUSE_OK,
       {{"a1", v1::ROLE_AGREES},
        {"b1", v1::ROLE_AGREES},
        {"b2", v1::ROLE_AGREES},
        {"c1", v1::ROLE_AGREES}}},
      {"refused",
       [](World& w) { w.SeeAll("t1", O(v1::OUTCOME_REFUSED)); },
       v1::CAUSE_SSH_REFUSED,
       {{"a1", v1::ROLE_AGREES}, {"c1", v1::ROLE_AGREES}}},
      {"source block",
       [](World& w) { w.See("b1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead)); },
       v1::CAUSE_SOURCE_BLOCK,
       {{"a1", v1::ROLE_AGREES_REACHES_IT}, {"b1", v1::ROLE_AGREES_BLOCKED}}},
      {"isp block",
       isp,
       v1::CAUSE_ISP_BLOCK,
       {{"a1", v1::ROLE_AGREES_REACHES_IT}, {"b1", v1::ROLE_AGREES}, {"b2", v1::ROLE_AGREES}}},
      {"fault behind a blocked network",
       [&](World& w) {
         isp(w);
         w.See("a1", "t1", O(v1::OUTCOME_REFUSED)).See("c1", "t1", O(v1::OUTCOME_REFUSED));
       },
       v1::CAUSE_SSH_REFUSED,
       {{"a1", v1::ROLE_AGREES}, {"b1", v1::ROLE_SET_ASIDE}, {"b2", v1::ROLE_SET_ASIDE}}},
      {"mixed failures",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
         w.See("c1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
       },
       v1::CAUSE_PARTIAL,
       {{"a1", v1::ROLE_AGREES}, {"c1", v1::ROLE_DISAGREES}}},
      {"stale and unhealthy",
       [](World& w) {
         w.See("a1", "t1", {v1::OUTCOME_REFUSED, Obs::kNotTried, 10'000});
         w.input().probes["c1"].connected = false;
       },
       v1::CAUSE_OK,
       {{"a1", v1::ROLE_EXCLUDED_STALE},
        {"b1", v1::ROLE_AGREES},
        {"c1", v1::ROLE_EXCLUDED_UNHEALTHY}}},
  };
  for (const Case& k : cases) {
    World w;
    w.AllOk();
    k.fault(w);
    FleetContext ctx = ContextOf(w.input());
    const TargetInput& t1 = w.Target("t1");
    Classification c = Classify(t1, ctx);
    EXPECT_EQ(CauseWord(c.cause), CauseWord(k.cause)) << k.name;
    ASSERT_EQ(c.rows.size(), t1.results.size()) << k.name;
    for (const auto& row : c.rows) {
      auto want = k.roles.find(*row.probe);
      if (want != k.roles.end()) {
        EXPECT_EQ(RoleWord(row.role), RoleWord(want->second)) << k.name << " " << *row.probe;
      }
      EXPECT_NE(row.role, v1::ROLE_UNSPECIFIED) << k.name << " " << *row.probe;
    }
    // The worded verdict is the classification plus words.
    Verdict v = DiagnoseTarget(t1, ctx);
    EXPECT_EQ(v.cause, c.cause) << k.name;
    EXPECT_EQ(v.confidence, c.confidence) << k.name;
    for (size_t i = 0; i < c.rows.size(); ++i) EXPECT_EQ(v.evidence[i].role, c.rows[i].role);
  }
}

// Rule 2 needs TWO targets that other networks reach (engine.h): with one,
// an ISP block and a per-source ban on that host look the same.
TEST(Diagnose, BlockedNetworkNeedsTwoTargetsReachedElsewhere) {
  World w;
  w.AllOk();
  // isp-b fails everything; t2 and t3 are down for everyone, only t1 is
  // reached elsewhere.
  for (const char* t : {"t1", "t2", "t3"}) {
    w.See("b1", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
    w.See("b2", t, O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  }
  for (const char* p : {"a1", "c1"}) {
    w.See(p, "t2", O(v1::OUTCOME_TIMEOUT, Obs::kPing))
        .See(p, "t3", O(v1::OUTCOME_TIMEOUT, Obs::kPing));
  }
  Output one = w.Run();
  EXPECT_TRUE(one.blocked_networks.empty());
  EXPECT_EQ(CauseOf(one, "t1"), "partial") << VerdictFor(one, "t1").summary;
  // A second target reached elsewhere: now it is a blocked network.
  w.See("a1", "t2", Ok());
  Output two = w.Run();
  EXPECT_EQ(two.blocked_networks, std::vector<std::string>{"isp-b"});
  EXPECT_EQ(CauseOf(two, "t1"), "isp_block") << VerdictFor(two, "t1").summary;
}

// Freshness and ages come from the collector's receive time: a probe whose
// own clock is 10 minutes off (every result here) still counts.
TEST(Diagnose, JudgesTimeByReceiveTimeNotTheProbesClock) {
  World w;
  w.AllOk().SeeAll("t1", O(v1::OUTCOME_REFUSED));
  const Verdict& v = VerdictFor(w.Run(), "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_SSH_REFUSED);
  for (const Evidence& e : v.evidence) {
    EXPECT_EQ(e.role_word(), "agrees");
    EXPECT_DOUBLE_EQ(e.age_s, 0.5);
  }
}

}  // namespace
}  // namespace parallax::collector::diagnosis
