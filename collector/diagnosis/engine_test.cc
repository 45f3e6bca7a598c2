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
  // A hand-built result (issue 10's evidence fields), received 500 ms ago.
  World& SeeResult(const std::string& probe, const std::string& target, v1::CheckResult r) {
    v1::CheckResult& stored = results_[{target, probe}];
    r.set_target(target);
    r.set_started_unix_ms(kNow - 600'000);  // a wrong probe clock: never read
    stored = std::move(r);
    SetResult(Target(target), {probe, &stored, kNow - 500});
    return *this;
  }
  World& SeeAllResult(const std::string& target, const v1::CheckResult& r) {
    for (const auto& [p, _] : input_.probes) SeeResult(p, target, r);
    return *this;
  }
  World& SeeAll(const std::string& target, Obs obs) {
    for (const auto& [p, _] : input_.probes) See(p, target, obs);
    return *this;
  }
  // The newest verified host key `probe` saw for `target`.
  World& Key(const std::string& probe, const std::string& target, const std::string& fp,
             const std::string& type = "ssh-ed25519") {
    v1::HostKey& k = keys_[{target, probe}];
    k.set_fingerprint(fp);
    k.set_type(type);
    for (Observation& o : Target(target).results) {
      if (o.probe == probe) o.host_key = &k;
    }
    return *this;
  }
  World& KeyAll(const std::string& target, const std::string& fp) {
    for (const auto& [p, _] : input_.probes) Key(p, target, fp);
    return *this;
  }
  World& Pin(const std::string& target, std::vector<std::string> fps) {
    Target(target).pinned_keys = std::move(fps);
    return *this;
  }
  Input& input() { return input_; }
  Output Run() { return Diagnose(input_); }

 private:
  Input input_;
  std::map<std::pair<std::string, std::string>, v1::HostKey> keys_;         // (target, probe)
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
  const Output out = w.Run();  // VerdictFor returns a reference into it
  const Verdict& v = VerdictFor(out, "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_SSH_REFUSED);
  for (const Evidence& e : v.evidence) {
    EXPECT_EQ(e.role_word(), "agrees");
    EXPECT_DOUBLE_EQ(e.age_s, 0.5);
  }
}

// ---- Issue 10: causes from what answered, with the probe's evidence ----

namespace ev {

v1::CheckResult Failed(v1::Outcome o, int error_number, const std::string& detail) {
  v1::CheckResult r;
  r.set_outcome(o);
  r.set_error_number(error_number);
  r.set_detail(detail);
  return r;
}

v1::IcmpError Icmp(uint32_t type, uint32_t code, const std::string& sender, bool from_target,
                   const std::string& description) {
  v1::IcmpError e;
  e.set_family(4);
  e.set_type(type);
  e.set_code(code);
  e.set_sender(sender);
  e.set_from_target(from_target);
  e.set_description(description);
  return e;
}

// What the probe sends when SSH times out and liveness runs: ping, 443, 80
// and the closed-port test; `answers` chooses which of them answer.
v1::CheckResult Timeout(bool ping, bool https, bool closed_reset) {
  v1::CheckResult r = Failed(v1::OUTCOME_TIMEOUT, 110, "connect: timed out after 5000 ms");
  v1::Liveness* l = r.mutable_liveness();
  l->set_icmp_attempted(true);
  l->set_icmp_reply(ping);
  if (ping) l->set_icmp_reply_from("192.0.2.10");
  if (!ping) l->set_icmp_error("timeout");
  v1::PortProbe* p443 = l->add_ports();
  p443->set_port(443);
  p443->set_outcome(https ? v1::OUTCOME_OK : v1::OUTCOME_TIMEOUT);
  if (https) p443->set_connect_us(1800);
  v1::PortProbe* p80 = l->add_ports();
  p80->set_port(80);
  p80->set_outcome(v1::OUTCOME_TIMEOUT);
  l->mutable_closed_port()->set_port(65535);
  l->mutable_closed_port()->set_outcome(closed_reset ? v1::OUTCOME_REFUSED : v1::OUTCOME_TIMEOUT);
  return r;
}

// Refused by a TCP reset; alt port 2222 tried (refused too unless `moved`).
v1::CheckResult RefusedByReset(bool moved = false) {
  v1::CheckResult r = Failed(v1::OUTCOME_REFUSED, 111, "connect: Connection refused");
  v1::AltPortProbe* alt = r.mutable_liveness()->add_alt_ports();
  alt->set_port(2222);
  if (moved) {
    alt->set_outcome(v1::OUTCOME_OK);
    alt->set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    r.mutable_liveness()->set_ssh_answered_on_port(2222);
  } else {
    alt->set_outcome(v1::OUTCOME_REFUSED);
  }
  return r;
}

// nftables `reject` (ICMP port unreachable) on the host: refused, with the ICMP error.
v1::CheckResult RejectedByIcmp(uint32_t code, const std::string& sender, bool from_target,
                               const std::string& description) {
  v1::CheckResult r =
      Failed(code == 3 ? v1::OUTCOME_REFUSED : v1::OUTCOME_HOST_UNREACHABLE, code == 3 ? 111 : 113,
             code == 3 ? "connect: Connection refused" : "connect: No route to host");
  *r.mutable_liveness()->mutable_ssh_icmp_error() = Icmp(3, code, sender, from_target, description);
  return r;
}

v1::CheckResult GatewaySaysHostUnreachable() {
  v1::CheckResult r = Timeout(false, false, false);
  r.set_outcome(v1::OUTCOME_HOST_UNREACHABLE);
  r.set_error_number(113);
  r.set_detail("connect: No route to host");
  *r.mutable_liveness()->mutable_ssh_icmp_error() =
      Icmp(3, 1, "198.51.100.1", false, "host unreachable");
  return r;
}

v1::CheckResult ClosedWith(std::vector<std::string> lines) {
  v1::CheckResult r =
      Failed(v1::OUTCOME_CLOSED, 0, "closed by the server before an SSH identification line");
  r.set_connect_us(900);
  for (std::string& l : lines) r.add_pre_banner(std::move(l));
  return r;
}

v1::CheckResult NotSsh(const std::string& detail, const std::string& speaks = "") {
  v1::CheckResult r = Failed(v1::OUTCOME_NOT_SSH, 0, detail);
  r.set_connect_us(700);
  if (!speaks.empty()) {
    v1::SecondOpinion* o = r.mutable_liveness()->mutable_second_opinion();
    o->set_speaks(speaks);
    o->set_detail(detail);
  }
  return r;
}

v1::CheckResult ProbeError() {
  return Failed(v1::OUTCOME_PROBE_ERROR, 24, "socket: Too many open files (EMFILE)");
}

}  // namespace ev

struct EvidenceRow {
  const char* name;
  v1::CheckResult seen;  // by every probe, on t1
  const char* cause;
  std::vector<const char*> says;  // in the summary
};

TEST(DiagnoseEvidence, CausesFromWhatAnswered) {
  std::vector<EvidenceRow> rows = {
      {"sshd stopped: TCP reset",
       ev::RefusedByReset(),
       "ssh_refused",
       {"TCP reset", "nothing listens", "reject with tcp reset"}},
      {"nftables reject on the host: ICMP port unreachable from it",
       ev::RejectedByIcmp(3, "192.0.2.10", true, "port unreachable"),
       "firewall_block",
       {"rejected by the host itself", "ICMP port unreachable from 192.0.2.10",
        "REJECT rule in the host's firewall"}},
      {"host sends admin-prohibited itself",
       ev::RejectedByIcmp(13, "192.0.2.10", true, "communication administratively prohibited"),
       "firewall_block",
       {"rejected by the host itself", "REJECT rule"}},
      {"a router on the path says admin-prohibited",
       ev::RejectedByIcmp(13, "203.0.113.1", false, "communication administratively prohibited"),
       "firewall_block",
       {"router 203.0.113.1", "a firewall at 203.0.113.1 on the path"}},
      {"the gateway says host unreachable",
       ev::GatewaySaysHostUnreachable(),
       "host_offline",
       {"gateway 198.51.100.1", "host unreachable"}},
      {"drops ICMP and SSH, serves HTTPS (cloud default)",
       ev::Timeout(false, true, false),
       "firewall_block",
       {"gets no answer", "port 443 open", "a firewall drops SSH"}},
      {"drops SSH, closed port answers with a reset",
       ev::Timeout(false, false, true),
       "firewall_block",
       {"closed port 65535 answers with a reset"}},
      {"drops SSH, ping answers",
       ev::Timeout(true, false, false),
       "firewall_block",
       {"ping answers"}},
      {"nothing answers at all",
       ev::Timeout(false, false, false),
       "host_offline",
       {"Nothing answers", "no ping"}},
      {"sshd moved to 2222",
       ev::RefusedByReset(/*moved=*/true),
       "ssh_moved",
       {"sshd answers on 2222, not on 22", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}},
      {"MaxStartups exhausted",
       ev::ClosedWith({"Exceeded MaxStartups"}),
       "ssh_unresponsive",
       {"the server says \"Exceeded MaxStartups\""}},
      {"dropbear connection limit",
       ev::ClosedWith({"Too many connections"}),
       "ssh_unresponsive",
       {"\"Too many connections\""}},
      {"SSH-1 only",
       ev::NotSsh("speaks SSH protocol 1 only: \"SSH-1.5-1.2.27\""),
       "not_ssh",
       {"speaks SSH protocol 1 only", "Protocol major versions differ", "SSH-1.5-1.2.27"}},
      {"redis",
       ev::NotSsh("RESP (Redis) error: \"-ERR unknown command 'SSH-2.0-parallax_probe_0.1', "
                  "with args beginning with: \""),
       "not_ssh",
       {"a Redis server"}},
      {"python3 -m http.server",
       ev::NotSsh("HTML document: \"<!DOCTYPE HTML>\""),
       "not_ssh",
       {"an HTTP server"}},
      {"openssl s_server",
       ev::NotSsh(
           "speaks TLS (answered a TLS ClientHello with \"\\x16\\x03\\x03\\x00z\"); it closed "
           "the SSH connection before sending any line",
           "tls"),
       "not_ssh",
       {"a TLS service"}},
      {"an echo service",
       ev::NotSsh("echoes the probe's own identification line: \"SSH-2.0-parallax_probe_0.1\""),
       "not_ssh",
       {"echoes what it receives"}},
  };
  for (const EvidenceRow& row : rows) {
    World w;
    w.AllOk();
    w.SeeAllResult("t1", row.seen);
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(CauseWord(v.cause), row.cause) << row.name << ": " << v.summary;
    for (const char* say : row.says) {
      EXPECT_NE(v.summary.find(say), std::string::npos)
          << row.name << ": wants \"" << say << "\" in: " << v.summary;
    }
    EXPECT_FALSE(v.remediation.empty()) << row.name;
    EXPECT_EQ(CauseOf(out, "t2"), "ok") << row.name;
    for (const ProbeHealth& p : out.probes) EXPECT_TRUE(p.healthy) << row.name << " " << p.probe;
  }
}

TEST(DiagnoseEvidence, SshMovedNeedsEveryVantagePoint) {
  World w;
  w.AllOk()
      .SeeAllResult("t1", ev::RefusedByReset(true))
      .SeeResult("c1", "t1", ev::RefusedByReset());
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_SSH_REFUSED) << v.summary;
  EXPECT_NE(v.summary.find("found SSH on port 2222"), std::string::npos) << v.summary;
  World m;
  m.AllOk().SeeAllResult("t1", ev::RefusedByReset(true));
  Output moved_out = m.Run();
  const Verdict& moved = VerdictFor(moved_out, "t1");
  ASSERT_EQ(moved.cause, v1::CAUSE_SSH_MOVED);
  EXPECT_EQ(CauseWord(moved.cause), "ssh_moved");
  EXPECT_NE(moved.remediation[0].find("ssh -p 2222"), std::string::npos) << moved.remediation[0];
  EXPECT_GT(moved.confidence, 0.9);
}

TEST(DiagnoseEvidence, ServerWordsAreEscapedAndBounded) {
  World w;
  w.AllOk().SeeAllResult("t1", ev::ClosedWith({"\x1b[31mred\x07 " + std::string(500, 'A'), "x"}));
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  ASSERT_EQ(v.cause, v1::CAUSE_SSH_UNRESPONSIVE);
  EXPECT_EQ(v.summary.find('\x1b'), std::string::npos);
  EXPECT_EQ(v.summary.find('\x07'), std::string::npos);
  EXPECT_NE(v.summary.find("\\x1b[31mred\\x07 AAAA"), std::string::npos) << v.summary;
  EXPECT_EQ(v.summary.find(std::string(130, 'A')), std::string::npos) << v.summary;
  EXPECT_LT(v.summary.size(), 500u) << v.summary;
  for (const Evidence& e : v.evidence) EXPECT_EQ(e.detail.find('\x1b'), std::string::npos);
}

TEST(DiagnoseEvidence, ProbeErrorsAreNeverCountedAgainstATarget) {
  // a1 ran out of descriptors for t1 once: excluded, t1 stays ok, a1 healthy.
  World w;
  w.AllOk().SeeResult("a1", "t1", ev::ProbeError());
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  EXPECT_EQ(v.cause, v1::CAUSE_OK) << v.summary;
  EXPECT_EQ(v.evidence[0].probe, "a1");
  EXPECT_EQ(v.evidence[0].role_word(), "excluded: probe error");
  EXPECT_TRUE(HealthOf(out, "a1").healthy);
  // Every probe fails to run the check: no observation at all, not an outage.
  World all;
  all.AllOk().SeeAllResult("t1", ev::ProbeError());
  EXPECT_EQ(CauseOf(all.Run(), "t1"), "unknown");
  // Alone it fails: still no outage.
  World one;
  one.AllOk().SeeAllResult("t1", ev::RefusedByReset()).SeeResult("b1", "t1", ev::ProbeError());
  Output one_out = one.Run();
  const Verdict& r = VerdictFor(one_out, "t1");
  EXPECT_EQ(r.cause, v1::CAUSE_SSH_REFUSED);
  EXPECT_TRUE(r.disagreeing.empty());
}

TEST(DiagnoseEvidence, AProbeMostlyInProbeErrorCannotRunChecks) {
  World w;
  w.AllOk();
  w.SeeResult("a1", "t1", ev::ProbeError()).SeeResult("a1", "t2", ev::ProbeError());
  w.See("a1", "t3", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
  Output out = w.Run();
  const ProbeHealth& a1 = HealthOf(out, "a1");
  EXPECT_FALSE(a1.healthy);
  EXPECT_TRUE(a1.cannot_run_checks);
  EXPECT_FALSE(a1.ssh_egress_blocked);
  EXPECT_NE(a1.reason.find("cannot run checks: 2 of its 3 fresh checks ended in probe_error"),
            std::string::npos)
      << a1.reason;
  EXPECT_NE(a1.reason.find("Too many open files"), std::string::npos) << a1.reason;
  // Its timeout on t3 is a probe problem too: excluded, t3 is ok.
  for (const char* t : {"t1", "t2", "t3"}) EXPECT_EQ(CauseOf(out, t), "ok") << t;
}

TEST(DiagnoseEvidence, FilteredProbeIsAProbeProblemAndItsTargetsStayOk) {
  // b1 sits behind an egress filter that drops port 22; b2 (same network) is fine.
  World w;
  w.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) w.SeeResult("b1", t, ev::Timeout(true, true, true));
  Output out = w.Run();
  for (const char* t : {"t1", "t2", "t3"}) {
    EXPECT_EQ(CauseOf(out, t), "ok") << t << ": " << VerdictFor(out, t).summary;
    EXPECT_EQ(VerdictFor(out, t).evidence[1].role_word(), "excluded: unhealthy probe");
  }
  const ProbeHealth& b1 = HealthOf(out, "b1");
  EXPECT_FALSE(b1.healthy);
  EXPECT_TRUE(b1.ssh_egress_blocked);
  EXPECT_NE(b1.reason.find("outbound SSH is filtered where it sits"), std::string::npos)
      << b1.reason;
  EXPECT_TRUE(out.blocked_networks.empty());
  for (const char* p : {"a1", "b2", "c1"}) EXPECT_FALSE(HealthOf(out, p).ssh_egress_blocked) << p;
}

TEST(DiagnoseEvidence, FilteredIsolatedAndBlockedNetworkDoNotContradict) {
  // Nothing answers b1: its own network is down (isolated), not filtered.
  World isolated;
  isolated.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) {
    isolated.SeeResult("b1", t, ev::Timeout(false, false, false));
  }
  Output a = isolated.Run();
  EXPECT_FALSE(HealthOf(a, "b1").healthy);
  EXPECT_FALSE(HealthOf(a, "b1").ssh_egress_blocked);
  EXPECT_NE(HealthOf(a, "b1").reason.find("own network looks down"), std::string::npos);
  // Both probes of isp-b fail while answers come back: the network blocks
  // SSH (isp_block), both probes stay healthy and unflagged.
  World network;
  network.AllOk();
  for (const char* t : {"t1", "t2", "t3"}) {
    network.SeeResult("b1", t, ev::Timeout(true, true, true));
    network.SeeResult("b2", t, ev::Timeout(true, true, true));
  }
  Output b = network.Run();
  EXPECT_EQ(b.blocked_networks, std::vector<std::string>{"isp-b"});
  for (const char* p : {"b1", "b2"}) {
    EXPECT_TRUE(HealthOf(b, p).healthy) << p;
    EXPECT_FALSE(HealthOf(b, p).ssh_egress_blocked) << p;
  }
  EXPECT_EQ(CauseOf(b, "t1"), "isp_block");
  // One target only cannot tell: b1 failing t1 alone is source_block, not a filter.
  World one;
  one.AllOk().SeeResult("b1", "t1", ev::Timeout(true, true, true));
  Output c = one.Run();
  EXPECT_TRUE(HealthOf(c, "b1").healthy);
  EXPECT_EQ(CauseOf(c, "t1"), "source_block");
}

}  // namespace
}  // namespace parallax::collector::diagnosis

namespace parallax::collector::diagnosis {
namespace {

// A result of a check of a name: the address checked and the A answers.
v1::CheckResult Resolved(v1::Outcome outcome, const std::string& address,
                         Obs::Live live = Obs::kNotTried) {
  v1::CheckResult r = MakeResult("t1", {outcome, live});
  r.set_resolved(true);
  r.set_address(address + ":22");
  r.add_dns_a(address);
  return r;
}

// Gives `probe`'s observation of `target` a history: it read SSH until
// `ok_ago_ms` ago and fails since `failing_ago_ms` ago, from `source`.
void History(World& w, const std::string& target, const std::string& probe, int64_t ok_ago_ms,
             int64_t failing_ago_ms, std::string_view source) {
  for (Observation& o : w.Target(target).results) {
    if (o.probe != probe) continue;
    o.last_ok_ms = kNow - ok_ago_ms;
    o.failing_since_ms = failing_ago_ms > 0 ? kNow - failing_ago_ms : 0;
    o.source_address = source;
  }
}

TEST(DiagnoseDns, OutcomesThatFollowTheAddressAreADnsMismatch) {
  struct Case {
    const char* name;
    std::map<std::string, std::pair<std::string, v1::Outcome>> seen;  // probe -> address, outcome
    const char* cause;
    std::vector<const char*> says;
  };
  const v1::Outcome kOk = v1::OUTCOME_OK, kTimeout = v1::OUTCOME_TIMEOUT;
  const std::vector<Case> cases = {
      {"isp-a's resolver serves the old address",
       {{"a1", {"192.0.2.9", kTimeout}},
        {"b1", {"192.0.2.10", kOk}},
        {"b2", {"192.0.2.10", kOk}},
        {"c1", {"192.0.2.10", kOk}}},
       "dns_mismatch",
       {"isp-a resolves t1.example to 192.0.2.9, the others to 192.0.2.10; SSH fails only at that "
        "address (a1)"}},
      {"one network, two probes, both at the old address",
       {{"a1", {"192.0.2.10", kOk}},
        {"b1", {"192.0.2.9", v1::OUTCOME_REFUSED}},
        {"b2", {"192.0.2.9", v1::OUTCOME_REFUSED}},
        {"c1", {"192.0.2.10", kOk}}},
       "dns_mismatch",
       {"isp-b resolves t1.example to 192.0.2.9", "(b1, b2)"}},
      {"same address everywhere: a ban, not DNS",
       {{"a1", {"192.0.2.10", kTimeout}},
        {"b1", {"192.0.2.10", kOk}},
        {"b2", {"192.0.2.10", kOk}},
        {"c1", {"192.0.2.10", kOk}}},
       "source_block",
       {}},
      {"the old address fails from one probe and works from another: not DNS",
       {{"a1", {"192.0.2.9", kTimeout}},
        {"b1", {"192.0.2.9", kOk}},
        {"b2", {"192.0.2.10", kOk}},
        {"c1", {"192.0.2.10", kOk}}},
       "source_block",
       {}},
  };
  for (const Case& c : cases) {
    World w;
    w.AllOk();
    for (const auto& [probe, seen] : c.seen) {
      w.SeeResult(
          probe, "t1",
          Resolved(seen.second, seen.first, seen.second == kOk ? Obs::kNotTried : Obs::kDead));
    }
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(CauseWord(v.cause), c.cause) << c.name << ": " << v.summary;
    for (const char* say : c.says) {
      EXPECT_NE(v.summary.find(say), std::string::npos) << c.name << ": " << v.summary;
    }
    EXPECT_FALSE(v.remediation.empty()) << c.name;
  }
}

TEST(DiagnoseDns, IpLiteralsNeverMakeADnsMismatch) {
  World w;
  w.AllOk();
  v1::CheckResult r = Resolved(v1::OUTCOME_TIMEOUT, "192.0.2.9", Obs::kDead);
  r.set_resolved(false);  // the target was given as an address
  w.SeeResult("a1", "t1", r);
  Output out = w.Run();
  EXPECT_EQ(CauseOf(out, "t1"), "source_block");
}

TEST(DiagnoseBans, FailuresProbeByProbeAfterReadingSshAreProbesBanned) {
  // a1 banned 30 s ago, b1 10 s ago (interval 1 s), each had read SSH just
  // before; b2 and c1 still read it.
  World w;
  w.AllOk();
  w.See("a1", "t1", O(v1::OUTCOME_REFUSED)).See("b1", "t1", O(v1::OUTCOME_REFUSED));
  History(w, "t1", "a1", 31'000, 30'000, "198.51.100.7");
  History(w, "t1", "b1", 11'000, 10'000, "203.0.113.5");
  History(w, "t1", "c1", 500, 0, "192.0.2.200");
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  ASSERT_EQ(CauseWord(v.cause), "probes_banned") << v.summary;
  EXPECT_NE(v.summary.find("fails probe by probe, each right after it had read SSH (a1 first, "
                           "b1 20.0 s later), while b2, c1 still read it"),
            std::string::npos)
      << v.summary;
  EXPECT_NE(v.summary.find("the host bans the probes themselves (fail2ban in mode "
                           "aggressive/ddos, sshd PerSourcePenalties): exempt the probes "
                           "(192.0.2.200, 198.51.100.7, 203.0.113.5)"),
            std::string::npos)
      << v.summary;
  EXPECT_NE(v.remediation[0].find("parallax probes --ignoreip"), std::string::npos);

  // Every probe banned in turn: still named (the refusals show the host up).
  World all;
  all.AllOk().SeeAll("t1", O(v1::OUTCOME_REFUSED));
  int64_t ago = 40'000;
  for (const char* p : {"a1", "b1", "b2", "c1"}) {
    History(all, "t1", p, ago + 1000, ago, "");
    ago -= 10'000;
  }
  Output all_out = all.Run();
  const Verdict& av = VerdictFor(all_out, "t1");
  EXPECT_EQ(CauseWord(av.cause), "probes_banned") << av.summary;
  EXPECT_NE(av.summary.find("while the host still answers"), std::string::npos) << av.summary;
  EXPECT_NE(av.summary.find("parallax probes --ignoreip lists their addresses"), std::string::npos)
      << av.summary;
}

TEST(DiagnoseBans, WhatIsNotABanOfTheProbes) {
  struct Case {
    const char* name;
    std::function<void(World&)> setup;
    const char* cause;
  };
  const std::vector<Case> cases = {
      {"sshd stopped: every probe fails at once",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
         for (const char* p : {"a1", "b1", "b2", "c1"}) History(w, "t1", p, 2'000, 1'500, "");
       },
       "ssh_refused"},
      {"two probes fail in turn but never read SSH before (no history)",
       [](World& w) {
         w.See("a1", "t1", O(v1::OUTCOME_REFUSED)).See("b1", "t1", O(v1::OUTCOME_REFUSED));
         History(w, "t1", "a1", 0, 30'000, "");
         History(w, "t1", "b1", 0, 10'000, "");
       },
       "source_block"},
      {"one probe banned: a source block",
       [](World& w) {
         w.See("a1", "t1", O(v1::OUTCOME_REFUSED));
         History(w, "t1", "a1", 31'000, 30'000, "");
       },
       "source_block"},
      {"silent in turn and nothing answers: the host went away",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
         int64_t ago = 40'000;
         for (const char* p : {"a1", "b1", "b2", "c1"}) {
           History(w, "t1", p, ago + 1000, ago, "");
           ago -= 10'000;
         }
       },
       "host_offline"},
      {"sshd stopped, seen on each probe's own phase (1.2 intervals apart, as in the lab)",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
         int64_t ago = 2'000;
         for (const char* p : {"a1", "b2", "b1", "c1"}) {
           History(w, "t1", p, ago + 1000, ago, "");
           ago -= 400;
         }
       },
       "ssh_refused"},
      {"sshd stopped, seen late by starved probes (2.9 s apart at a 1 s interval): every "
       "read began before the first failure",
       [](World& w) {
         w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
         History(w, "t1", "c1", 3'300, 3'000, "");
         History(w, "t1", "a1", 3'200, 1'000, "");
         History(w, "t1", "b2", 3'400, 400, "");
         History(w, "t1", "b1", 3'100, 100, "");
       },
       "ssh_refused"},
      {"sshd says why, probe by probe (MaxStartups): the server speaks, no ban",
       [](World& w) {
         w.SeeAllResult("t1", ev::ClosedWith({"Exceeded MaxStartups"}));
         int64_t ago = 4'000;
         for (const char* p : {"a1", "b1", "b2", "c1"}) {
           History(w, "t1", p, ago + 1000, ago, "");
           ago -= 1'000;
         }
       },
       "ssh_unresponsive"},
  };
  for (const Case& c : cases) {
    World w;
    w.AllOk();
    c.setup(w);
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(CauseWord(v.cause), c.cause) << c.name << ": " << v.summary;
  }
}

constexpr char kOld[] = "SHA256:PzASa0wY5XP4mStjxyE6wh3bjt3zizQgqpfMQVybYGE";
constexpr char kNew[] = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
constexpr char kEvil[] = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

struct KeyRow {
  const char* name;
  std::function<void(World&)> setup;
  const char* cause;
  std::vector<const char*> says;
};

// Rule 4: host keys against the pins, table-driven.
TEST(DiagnoseHostKeys, Table) {
  std::vector<KeyRow> rows = {
      {"pinned key everywhere", [](World& w) { w.Pin("t1", {kOld}).KeyAll("t1", kOld); }, "ok", {}},
      {"nothing pinned yet: keys are not judged", [](World& w) { w.KeyAll("t1", kNew); }, "ok", {}},
      {"one of two pins",
       [](World& w) {
         w.Pin("t1", {kNew, kOld}).KeyAll("t1", kOld);
       },
       "ok",
       {}},
      {"a probe without a key yet is not counted",
       [](World& w) { w.Pin("t1", {kOld}).Key("a1", "t1", kOld).Key("b1", "t1", kOld); },
       "ok",
       {}},
      {"new key from every vantage point",
       [](World& w) { w.Pin("t1", {kOld}).KeyAll("t1", kNew); },
       "hostkey_changed",
       {"different host key from every vantage point", kNew, kOld, "ssh-keygen -R t1.example",
        "parallax hostkey accept t1", "rebuilt", "compromised"}},
      {"new key from those that have one, others not yet checked",
       [](World& w) { w.Pin("t1", {kOld}).Key("a1", "t1", kNew).Key("c1", "t1", kNew); },
       "hostkey_changed",
       {"2 vantage points in 2 networks"}},
      {"another key from one network only",
       [](World& w) {
         w.Pin("t1", {kOld}).KeyAll("t1", kOld).Key("b1", "t1", kEvil).Key("b2", "t1", kEvil);
       },
       "hostkey_mismatch",
       {"from some networks only", kEvil, "from isp-b (b1, b2)", kOld, "isp-a, isp-c", "split DNS",
        "reused address"}},
      {"a failure is judged first (rule 3)",
       [](World& w) {
         w.Pin("t1", {kOld}).KeyAll("t1", kNew).SeeAll("t1", O(v1::OUTCOME_REFUSED));
       },
       "ssh_refused",
       {}},
  };
  for (const KeyRow& row : rows) {
    World w;
    w.AllOk();
    row.setup(w);
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(CauseWord(v.cause), row.cause) << row.name << ": " << v.summary;
    for (const char* say : row.says) {
      EXPECT_NE(v.summary.find(say), std::string::npos)
          << row.name << ": wants \"" << say << "\" in: " << v.summary;
    }
    if (std::string(row.cause) != "ok") EXPECT_FALSE(v.remediation.empty()) << row.name;
    EXPECT_EQ(CauseOf(out, "t2"), "ok") << row.name;
  }
}

TEST(DiagnoseHostKeys, EvidenceCarriesTheKeyPerVantagePoint) {
  World w;
  w.AllOk().Pin("t1", {kOld}).KeyAll("t1", kOld).Key("c1", "t1", kEvil, "ecdsa-sha2-nistp256");
  Output out = w.Run();
  const Verdict& v = VerdictFor(out, "t1");
  ASSERT_EQ(v.cause, v1::CAUSE_HOSTKEY_MISMATCH) << v.summary;
  EXPECT_EQ(v.pinned_keys, std::vector<std::string>{kOld});
  for (const Evidence& e : v.evidence) {
    EXPECT_EQ(e.host_key_fingerprint, e.probe == "c1" ? kEvil : kOld) << e.probe;
    EXPECT_EQ(e.role, e.probe == "c1" ? v1::ROLE_AGREES : v1::ROLE_REACHES_IT) << e.probe;
  }
  EXPECT_NE(v.summary.find("(ecdsa-sha2-nistp256) from isp-c (c1)"), std::string::npos)
      << v.summary;
  // A hostile fingerprint / type is escaped in the prose.
  World x;
  x.AllOk().Pin("t1", {kOld}).KeyAll("t1", "SHA256:\x1b[31mbad").Key("a1", "t1", "x", "\x07");
  Output xo = x.Run();
  const Verdict& xv = VerdictFor(xo, "t1");
  EXPECT_EQ(xv.summary.find('\x1b'), std::string::npos) << xv.summary;
  EXPECT_EQ(xv.summary.find('\x07'), std::string::npos) << xv.summary;
}

// A probe that has failed a target for less than one interval + timeout has
// not checked its other targets since: "it reaches others" predates the
// failure, and the verdict is provisional (hysteresis does not count it).
TEST(Diagnose, AFailureYoungerThanAnIntervalAndATimeoutIsProvisional) {
  struct Case {
    const char* name;
    int64_t failing_ago_ms;  // 0: unknown
    bool all_fail;
    v1::Cause cause;
    bool provisional;
  };
  // World's targets: interval 1 s, timeout 500 ms.
  const std::vector<Case> cases = {
      {"failing 300 ms: provisional", 300, false, v1::CAUSE_SOURCE_BLOCK, true},
      {"failing 1.499 s: provisional", 1499, false, v1::CAUSE_SOURCE_BLOCK, true},
      {"failing 1.5 s: settled", 1500, false, v1::CAUSE_SOURCE_BLOCK, false},
      {"since when unknown: settled", 0, false, v1::CAUSE_SOURCE_BLOCK, false},
      {"every vantage point fails: nothing to wait for", 300, true, v1::CAUSE_SSH_REFUSED, false},
  };
  for (const Case& c : cases) {
    World w;
    w.AllOk();
    if (c.all_fail) {
      w.SeeAll("t1", O(v1::OUTCOME_REFUSED));
      for (const char* p : {"a1", "b1", "b2", "c1"}) {
        History(w, "t1", p, 60000, c.failing_ago_ms, "");
      }
    } else {
      w.See("b1", "t1", O(v1::OUTCOME_TIMEOUT, Obs::kDead));
      History(w, "t1", "b1", 60000, c.failing_ago_ms, "");
    }
    Output out = w.Run();
    const Verdict& v = VerdictFor(out, "t1");
    EXPECT_EQ(v.cause, c.cause) << c.name << ": " << v.summary;
    EXPECT_EQ(v.provisional, c.provisional) << c.name;
    EXPECT_FALSE(VerdictFor(out, "t2").provisional) << c.name;
  }
}

}  // namespace
}  // namespace parallax::collector::diagnosis
