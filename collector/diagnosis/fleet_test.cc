// The incremental pieces of the diagnosis: a Fleet updated result by result,
// then DiagnoseTarget per target, gives exactly the verdicts of the full
// Diagnose — on randomized fleets and update sequences, verdict by verdict.
#include "collector/diagnosis/fleet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "collector/diagnosis/classify.h"
#include "common/words.h"

namespace parallax::collector::diagnosis {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;

// Replaces or inserts `o` in t.results. Ordered by probe, except that a few
// targets get them in reverse order (allowed, only slower).
void SetResultMaybeReversed(TargetInput& t, Observation o) {
  bool reverse = t.name == "t1";
  auto before = [&](const Observation& a, const std::string& p) {
    return reverse ? a.probe > p : a.probe < p;
  };
  auto it = std::lower_bound(t.results.begin(), t.results.end(), o.probe, before);
  if (it != t.results.end() && it->probe == o.probe) {
    *it = std::move(o);
  } else {
    t.results.insert(it, std::move(o));
  }
}

// What a probe tends to see: a healthy view, its own network down, an ISP
// (or an egress filter in front of it alone) that blocks SSH, anything, or
// mostly its own failures (probe_error: out of descriptors).
enum class Mode { kNormal, kIsolated, kBlocked, kChaos, kErrors };
constexpr int kModes = 5;

class RandomFleet {
 public:
  explicit RandomFleet(uint32_t seed) : rng_(seed), fleet_(3) {
    now_ = kStart;
    int probes = Uniform(2, 7), targets = Uniform(1, 6);
    const char* networks[] = {"n0", "n1", "n2", ""};
    for (int i = 0; i < probes; ++i) {
      std::string name = "p" + std::to_string(i);
      ProbeInput p;
      std::string net = networks[Uniform(0, 3)];
      if (!net.empty()) p.labels["network"] = net;
      p.labels["site"] = "s" + std::to_string(i);
      p.connected = Uniform(0, 9) > 0;
      p.last_seen_ms = now_;
      input_.probes[name] = p;
      modes_[name] = static_cast<Mode>(Uniform(0, kModes - 1));
      fleet_.SetProbe(fleet_.Probe(name), p);
    }
    for (int i = 0; i < targets; ++i) {
      TargetInput t;
      t.name = "t" + std::to_string(i);
      t.host = t.name + ".example";
      t.interval_ms = Uniform(0, 1) ? 1000 : 2000;
      t.timeout_ms = Uniform(0, 1) ? 500 : 1000;
      input_.targets.push_back(t);
      fleet_.SetTarget(fleet_.Target(t.name), t.interval_ms, t.timeout_ms);
    }
    // Everyone reports once.
    for (const auto& [p, _] : input_.probes) {
      for (const TargetInput& t : input_.targets) Report(p, t.name);
    }
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  v1::CheckResult Draw(const std::string& probe, const std::string& target) {
    v1::CheckResult r;
    r.set_target(target);
    Mode mode = modes_.count(probe) ? modes_[probe] : Mode::kChaos;
    if (Uniform(0, 9) == 0) mode = Mode::kChaos;  // noise
    int x = Uniform(0, 99);
    switch (mode) {
      case Mode::kNormal:
        r.set_outcome(x < 85 ? v1::OUTCOME_OK : x < 92 ? v1::OUTCOME_REFUSED : v1::OUTCOME_TIMEOUT);
        break;
      case Mode::kIsolated:
        r.set_outcome(x < 50 ? v1::OUTCOME_TIMEOUT : v1::OUTCOME_NETWORK_UNREACHABLE);
        if (x % 3 == 0) r.mutable_liveness()->set_icmp_attempted(true);
        break;
      case Mode::kBlocked:
        r.set_outcome(v1::OUTCOME_TIMEOUT);
        r.mutable_liveness()->set_icmp_attempted(true);
        r.mutable_liveness()->set_icmp_reply(x < 80);
        break;
      case Mode::kErrors:
        r.set_outcome(x < 70 ? v1::OUTCOME_PROBE_ERROR : v1::OUTCOME_OK);
        break;
      case Mode::kChaos:
        r.set_outcome(static_cast<v1::Outcome>(Uniform(1, 11)));
        if (x < 30) {
          v1::PortProbe* port = r.mutable_liveness()->add_ports();
          port->set_port(80);
          port->set_outcome(x < 15 ? v1::OUTCOME_OK : v1::OUTCOME_TIMEOUT);
        }
        break;
    }
    if (r.outcome() == v1::OUTCOME_OK) {
      r.set_identification("SSH-2.0-OpenSSH_9.2p1");
      r.set_connect_us(1000 + x);
    } else if (r.outcome() == v1::OUTCOME_PROBE_ERROR) {
      r.set_error_number(24);
      r.set_detail("socket: Too many open files (EMFILE) " + std::to_string(x % 3));
    } else {
      r.set_detail("detail " + std::to_string(x));
    }
    r.set_started_unix_ms(now_ - 123'456);  // a wrong probe clock: never read
    return r;
  }

  TargetInput& TargetNamed(const std::string& name) {
    for (TargetInput& t : input_.targets) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no target " + name);
  }

  void Report(const std::string& probe, const std::string& target) {
    v1::CheckResult& stored = store_[{target, probe}];
    stored = Draw(probe, target);
    int64_t received = now_ - Uniform(0, 300);
    SetResultMaybeReversed(TargetNamed(target), {probe, &stored, received});
    fleet_.Update(fleet_.Probe(probe), fleet_.Target(target), &stored, received);
    dirty_.insert(target);
    if (input_.probes.count(probe)) input_.probes[probe].last_seen_ms = received;
    if (input_.probes.count(probe)) fleet_.SetProbe(fleet_.Probe(probe), input_.probes[probe]);
  }

  // One random change to the world, applied to the input and the fleet alike.
  void Step() {
    now_ += Uniform(0, 1500);
    int ops = Uniform(1, 4);
    for (int i = 0; i < ops; ++i) Op();
  }

  void Op() {
    std::vector<std::string> probes;
    for (const auto& [p, _] : input_.probes) probes.push_back(p);
    const std::string& target = input_.targets[Uniform(0, input_.targets.size() - 1)].name;
    std::string probe = probes.empty() ? "px" : probes[Uniform(0, probes.size() - 1)];
    int x = Uniform(0, 99);
    if (x < 55) {
      Report(probe, target);
    } else if (x < 62) {  // a result from a probe the collector does not list
      Report("px", target);
    } else if (x < 67) {  // retention dropped a result
      auto& results = TargetNamed(target).results;
      results.erase(std::remove_if(results.begin(), results.end(),
                                   [&](const Observation& o) { return o.probe == probe; }),
                    results.end());
      fleet_.Update(fleet_.Probe(probe), fleet_.Target(target), nullptr, 0);
      dirty_.insert(target);
    } else if (x < 77 && !probes.empty()) {  // connect / disconnect
      ProbeInput& p = input_.probes[probe];
      p.connected = !p.connected;
      if (p.connected) p.last_seen_ms = now_;
      fleet_.SetProbe(fleet_.Probe(probe), p);
    } else if (x < 85 && !probes.empty()) {  // heartbeat
      input_.probes[probe].last_seen_ms = now_;
      fleet_.SetProbe(fleet_.Probe(probe), input_.probes[probe]);
    } else if (x < 89 && !probes.empty()) {  // relabelled
      const char* networks[] = {"n0", "n1", "n2", ""};
      std::string net = networks[Uniform(0, 3)];
      ProbeInput& p = input_.probes[probe];
      if (net.empty()) {
        p.labels.erase("network");
      } else {
        p.labels["network"] = net;
      }
      fleet_.SetProbe(fleet_.Probe(probe), p);
    } else if (x < 92 && !probes.empty()) {  // a probe's mode changes (a fault starts or ends)
      modes_[probe] = static_cast<Mode>(Uniform(0, kModes - 1));
    } else if (x < 95) {  // a target's interval changes
      TargetInput& t = TargetNamed(target);
      t.interval_ms = Uniform(0, 1) ? 1000 : 3000;
      fleet_.SetTarget(fleet_.Target(t.name), t.interval_ms, t.timeout_ms);
      dirty_.insert(target);
    } else if (x < 97 && probes.size() > 1) {  // a probe removed from the config
      input_.probes.erase(probe);
      fleet_.ForgetProbe(fleet_.Probe(probe));
    } else {  // a whole round from one probe
      for (const TargetInput& t : input_.targets) Report(probe, t.name);
    }
  }

  int64_t now_;
  std::mt19937 rng_;
  Input input_;
  Fleet fleet_;
  std::map<std::string, Mode> modes_;
  std::map<std::pair<std::string, std::string>, v1::CheckResult> store_;
  std::set<std::string> dirty_;  // targets whose results changed since the last evaluation
};

void ExpectSameVerdict(const Verdict& want, const Verdict& got, const std::string& where) {
  EXPECT_EQ(CauseWord(got.cause), CauseWord(want.cause)) << where;
  EXPECT_EQ(got.confidence, want.confidence) << where;
  EXPECT_EQ(got.summary, want.summary) << where;
  EXPECT_EQ(got.disagreeing, want.disagreeing) << where;
  EXPECT_EQ(got.remediation, want.remediation) << where;
  EXPECT_EQ(got.blocked_networks, want.blocked_networks) << where;
  ASSERT_EQ(got.evidence.size(), want.evidence.size()) << where;
  for (size_t i = 0; i < want.evidence.size(); ++i) {
    const Evidence& a = want.evidence[i];
    const Evidence& b = got.evidence[i];
    EXPECT_EQ(b.probe, a.probe) << where;
    EXPECT_EQ(b.network, a.network) << where;
    EXPECT_EQ(b.role_word(), a.role_word()) << where << " " << a.probe;
    EXPECT_EQ(b.outcome, a.outcome) << where;
    EXPECT_EQ(b.detail, a.detail) << where;
    EXPECT_EQ(b.age_s, a.age_s) << where;
    EXPECT_EQ(b.alive_evidence, a.alive_evidence) << where;
  }
}

TEST(Fleet, IncrementalEqualsFullOnRandomFleets) {
  int isolated = 0, blocked = 0, expired = 0, cached = 0, egress = 0, errors = 0, excluded = 0;
  int reused = 0, reworded_ok = 0;
  std::set<v1::Cause> causes;
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    RandomFleet w(seed);
    FleetContext previous;
    std::map<std::string, Verdict> kept;  // what an incremental evaluator keeps
    std::map<std::string, std::shared_ptr<const Verdict>> last;  // each target's last verdict
    for (int step = 0; step < 40; ++step) {
      w.Step();
      Output full = Diagnose([&] {
        Input in = w.input_;
        in.now_ms = w.now_;
        return in;
      }());
      std::vector<int> gone = w.fleet_.Advance(w.now_);
      expired += static_cast<int>(gone.size());
      FleetContext ctx = w.fleet_.Context();
      std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      ASSERT_EQ(ctx.blocked_networks, full.blocked_networks) << where;
      blocked += !ctx.blocked_networks.empty();
      ASSERT_EQ(ctx.health.size(), full.probes.size()) << where;
      for (size_t i = 0; i < full.probes.size(); ++i) {
        EXPECT_EQ(ctx.health[i].probe, full.probes[i].probe) << where;
        EXPECT_EQ(ctx.health[i].healthy, full.probes[i].healthy) << where;
        EXPECT_EQ(ctx.health[i].reason, full.probes[i].reason) << where;
        EXPECT_EQ(ctx.health[i].labels, full.probes[i].labels) << where;
        EXPECT_EQ(ctx.health[i].ssh_egress_blocked, full.probes[i].ssh_egress_blocked) << where;
        EXPECT_EQ(ctx.health[i].cannot_run_checks, full.probes[i].cannot_run_checks) << where;
        isolated += ctx.health[i].reason.find("own network") != std::string::npos;
        egress += ctx.health[i].ssh_egress_blocked;
        errors += ctx.health[i].cannot_run_checks;
      }
      // The evaluator's protocol: re-diagnose the targets whose results
      // changed or expired, every target when the fleet facts changed; the
      // others keep their verdict (up to the ages in the evidence).
      std::set<std::string> redo = w.dirty_;
      for (int t : gone) redo.insert(w.fleet_.TargetName(t));
      bool all = step == 0 || !ctx.SameFacts(previous);
      for (size_t i = 0; i < w.input_.targets.size(); ++i) {
        const TargetInput& t = w.input_.targets[i];
        Verdict fresh = DiagnoseTarget(t, ctx);
        ExpectSameVerdict(full.verdicts[i], fresh, where + " " + t.name);
        // The evaluator's shortcut: the last verdict kept when it would be
        // worded the same; then it is, but for ages and connect times.
        std::shared_ptr<const Verdict>& prev = last[t.name];
        std::shared_ptr<const Verdict> got = DiagnoseTarget(t, ctx, prev);
        if (prev && got == prev) {
          ++reused;
          Verdict want = fresh;
          for (size_t e = 0; e < want.evidence.size() && e < prev->evidence.size(); ++e) {
            want.evidence[e].age_s = prev->evidence[e].age_s;
          }
          ExpectSameVerdict(want, *prev, where + " " + t.name + " reused");
        } else {
          reworded_ok += prev && prev->cause == v1::CAUSE_OK && fresh.cause == v1::CAUSE_OK;
          ExpectSameVerdict(fresh, *got, where + " " + t.name + " worded");
        }
        prev = got;
        causes.insert(fresh.cause);
        for (const Evidence& e : fresh.evidence)
          excluded += e.role == v1::ROLE_EXCLUDED_PROBE_ERROR;
        if (all || redo.count(t.name)) {
          kept[t.name] = fresh;
        } else {
          ++cached;
          const Verdict& k = kept[t.name];
          EXPECT_EQ(k.cause, fresh.cause) << where << " " << t.name << " kept";
          EXPECT_EQ(k.summary, fresh.summary) << where << " " << t.name << " kept";
          ASSERT_EQ(k.evidence.size(), fresh.evidence.size()) << where << " " << t.name;
          for (size_t e = 0; e < k.evidence.size(); ++e) {
            EXPECT_EQ(k.evidence[e].role, fresh.evidence[e].role) << where << " " << t.name;
          }
        }
      }
      w.dirty_.clear();
      previous = ctx;
      if (HasFatalFailure() || HasFailure()) return;
    }
  }
  // The generator reaches the interesting cases.
  EXPECT_GT(isolated, 25);
  EXPECT_GT(blocked, 25);
  EXPECT_GT(expired, 50);
  EXPECT_GT(cached, 500);
  EXPECT_GT(egress, 25);
  EXPECT_GT(errors, 25);
  EXPECT_GT(excluded, 100);
  EXPECT_GT(reused, 500);
  EXPECT_GT(reworded_ok,
            100);  // ok again, but worded differently (a probe, role or network changed)
  for (v1::Cause c :
       {v1::CAUSE_OK, v1::CAUSE_SSH_REFUSED, v1::CAUSE_FIREWALL_BLOCK, v1::CAUSE_HOST_OFFLINE,
        v1::CAUSE_ISP_BLOCK, v1::CAUSE_SOURCE_BLOCK, v1::CAUSE_PARTIAL, v1::CAUSE_UNKNOWN}) {
    EXPECT_TRUE(causes.count(c)) << CauseWord(c);
  }
}

v1::CheckResult Outcome(v1::Outcome o) {
  v1::CheckResult r;
  r.set_outcome(o);
  return r;
}

TEST(Fleet, ResultsExpireOnTheReceiveTimeAndAdvanceNamesTheirTargets) {
  Fleet f(3);
  int p = f.Probe("p1"), t = f.Target("web"), u = f.Target("db");
  f.SetProbe(p, {{{"network", "isp-a"}}, true, kStart});
  f.SetTarget(t, 1000, 500);  // stale after 3.5 s
  f.SetTarget(u, 2000, 500);  // stale after 6.5 s
  v1::CheckResult ok = Outcome(v1::OUTCOME_OK);
  f.Update(p, t, &ok, kStart);
  f.Update(p, u, &ok, kStart);
  EXPECT_TRUE(f.Advance(kStart + 3500).empty());
  EXPECT_EQ(f.NextExpiry(), kStart + 3501);
  EXPECT_TRUE(f.Context().Find("p1")->reaches_some);
  EXPECT_EQ(f.Advance(kStart + 3501), std::vector<int>{t});
  EXPECT_EQ(f.NextExpiry(), kStart + 6501);
  EXPECT_TRUE(f.Context().Find("p1")->reaches_some);  // db is still fresh
  EXPECT_TRUE(f.Advance(kStart + 3000).empty());      // time never goes back
  EXPECT_EQ(f.now_ms(), kStart + 3501);
  // A newer result replaces the old one's expiry.
  f.Update(p, u, &ok, kStart + 5000);
  EXPECT_TRUE(f.Advance(kStart + 7000).empty());
  EXPECT_EQ(f.Advance(kStart + 11'501), std::vector<int>{u});
  EXPECT_EQ(f.NextExpiry(), std::numeric_limits<int64_t>::max());
}

TEST(Fleet, AResultAlreadyStaleWhenItArrivesNeverCounts) {
  Fleet f(3);
  int p = f.Probe("p1"), t = f.Target("web");
  f.SetProbe(p, {{}, true, kStart});
  f.SetTarget(t, 1000, 500);
  f.Advance(kStart + 10'000);
  v1::CheckResult ok = Outcome(v1::OUTCOME_OK);
  f.Update(p, t, &ok, kStart);
  EXPECT_FALSE(f.Context().Find("p1")->reaches_some);
  // A longer interval makes it fresh again.
  f.SetTarget(t, 10'000, 500);
  EXPECT_TRUE(f.Context().Find("p1")->reaches_some);
}

TEST(Fleet, SilenceReasonShowsSubSecondPrecisely) {
  // 100 ms intervals: the silence window is 3 x 100 + 50 ms.
  Fleet f(3);
  int p = f.Probe("p2"), t = f.Target("web");
  f.SetProbe(p, {{}, true, kStart});
  f.SetTarget(t, 100, 50);
  f.Advance(kStart + 360);
  FleetContext ctx = f.Context();
  ASSERT_FALSE(ctx.health.at(0).healthy);
  EXPECT_EQ(ctx.health.at(0).reason, "nothing received for 360 ms");
  f.Advance(kStart + 12'340);
  EXPECT_EQ(f.Context().health.at(0).reason, "nothing received for 12.3 s");
  f.Advance(kStart + 245'000);
  EXPECT_EQ(f.Context().health.at(0).reason, "nothing received for 4 min 5 s");
}

TEST(Fleet, SameFactsSeesHealthAndBlockedChanges) {
  Fleet f(3);
  int p = f.Probe("p1"), t = f.Target("web");
  f.SetProbe(p, {{}, true, kStart});
  f.SetTarget(t, 1000, 500);
  f.Advance(kStart);
  FleetContext a = f.Context();
  f.Advance(kStart + 100);
  EXPECT_TRUE(a.SameFacts(f.Context()));
  f.SetProbe(p, {{}, false, kStart});
  EXPECT_FALSE(a.SameFacts(f.Context()));
}

}  // namespace
}  // namespace parallax::collector::diagnosis
