// Microbenchmarks of the diagnosis engine (collector/diagnosis): the
// collector's periodic work over T targets x P probes.
//  - BM_Diagnose / BM_DiagnoseAllOk: the full evaluation, Diagnose(Input).
//    The bar: 10,000 x 100 within 100 ms.
//  - BM_DiagnoseIncremental: what the evaluator does per evaluation when 1% of
//    the results changed — Fleet::Update for each changed result,
//    Fleet::Advance + Context, DiagnoseTarget for every target touched. The
//    bar: 10,000 x 100 within 10 ms. Three shapes of "1% of the results"
//    (range(2)):
//      0 clustered: 1% of the targets change from every probe, consecutive
//        targets (a fault on those hosts);
//      2 scattered targets: the same count, 100 targets picked at random;
//      1 scattered pairs: 1% of the probe x target pairs at random, which
//        touches ~63% of the targets at 100 probes: each of them has a
//        changed input and must be re-diagnosed, so this one costs ~63% of
//        the per-target work of a full evaluation by nature.
//    The evaluator-level passes (LiveState, hysteresis, publishing) are in
//    evaluator_bench.cc.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/fleet.h"

namespace parallax::collector::diagnosis {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

// P probes in P/10 networks (at least 1); every probe checks every target.
// 94% of targets answer everywhere, 3% refuse everywhere, 2% time out from
// network 0 only (a source or ISP block), 1% time out everywhere with
// liveness evidence (a firewall).
struct World {
  Input input;
  // results[t][p]; Input points into it (never resized after building).
  std::vector<std::vector<v1::CheckResult>> results;
  std::vector<std::string> probe_names;
  std::vector<int> slot;  // probe p's position in every TargetInput::results
};

v1::CheckResult MakeResult(const TargetInput& ti, int t, int p, int networks, bool all_ok) {
  v1::CheckResult r;
  r.set_target(ti.name);
  r.set_started_unix_ms(kNow - 1000 - (t + p) % 5000);
  r.set_address(ti.host + ":22");
  int kind = t % 100;
  bool blocked_here = p % networks == 0;
  if (all_ok || kind < 94 || (kind < 99 && kind >= 97 && !blocked_here)) {
    r.set_outcome(v1::OUTCOME_OK);
    r.set_connect_us(1000 + p);
    r.set_banner_us(2000 + p);
    r.set_identification("SSH-2.0-OpenSSH_9.2p1");
  } else if (kind < 97) {
    r.set_outcome(v1::OUTCOME_REFUSED);
    r.set_error_number(111);
  } else {
    r.set_outcome(v1::OUTCOME_TIMEOUT);
    r.mutable_liveness()->set_icmp_attempted(true);
    r.mutable_liveness()->set_icmp_reply(kind == 99);
  }
  return r;
}

std::unique_ptr<World> MakeWorld(int targets, int probes, bool all_ok) {
  auto w = std::make_unique<World>();
  Input& in = w->input;
  in.now_ms = kNow;
  int networks = std::max(1, probes / 10);
  for (int p = 0; p < probes; ++p) {
    ProbeInput pi;
    pi.labels["network"] = "isp-" + std::to_string(p % networks);
    pi.labels["site"] = "site-" + std::to_string(p);
    pi.connected = true;
    pi.last_seen_ms = kNow - 100;
    w->probe_names.push_back("probe-" + std::to_string(p));
    in.probes[w->probe_names.back()] = std::move(pi);
  }
  w->results.resize(targets);
  for (int t = 0; t < targets; ++t) {
    TargetInput ti;
    ti.name = "target-" + std::to_string(t);
    ti.host = "10.0." + std::to_string(t / 250) + "." + std::to_string(t % 250);
    ti.interval_ms = 10000;
    ti.timeout_ms = 5000;
    w->results[t].reserve(probes);
    for (int p = 0; p < probes; ++p) {
      w->results[t].push_back(MakeResult(ti, t, p, networks, all_ok));
      // probe_names are not in name order ("probe-10" < "probe-2"): sorted below.
      ti.results.push_back(
          {w->probe_names[p], &w->results[t].back(), kNow - 1000 - (t + p) % 5000});
    }
    std::sort(ti.results.begin(), ti.results.end(),
              [](const Observation& a, const Observation& b) { return a.probe < b.probe; });
    in.targets.push_back(std::move(ti));
  }
  w->slot.resize(probes);
  for (int p = 0; p < probes; ++p) {
    const auto& r = in.targets.empty() ? std::vector<Observation>() : in.targets[0].results;
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i].probe == w->probe_names[p]) w->slot[p] = static_cast<int>(i);
    }
  }
  return w;
}

World& WorldFor(int targets, int probes, bool all_ok) {
  // Built once per size (10,000 x 100 is a million results, ~seconds to build).
  static std::map<std::tuple<int, int, bool>, std::unique_ptr<World>> worlds;
  auto& world = worlds[{targets, probes, all_ok}];
  if (!world) world = MakeWorld(targets, probes, all_ok);
  return *world;
}

void RunDiagnose(benchmark::State& state, bool all_ok) {
  int targets = static_cast<int>(state.range(0)), probes = static_cast<int>(state.range(1));
  const World& world = WorldFor(targets, probes, all_ok);
  size_t verdicts = 0;
  for (auto _ : state) {
    Output out = Diagnose(world.input);
    verdicts = out.verdicts.size();
    benchmark::DoNotOptimize(out.verdicts.data());
  }
  state.counters["targets"] = targets;
  state.counters["probes"] = probes;
  state.counters["verdicts"] = static_cast<double>(verdicts);
  state.SetItemsProcessed(state.iterations() * targets * probes);
}

void BM_Diagnose(benchmark::State& state) { RunDiagnose(state, false); }
// Every target answers everywhere: no failure-correlation work at all.
void BM_DiagnoseAllOk(benchmark::State& state) { RunDiagnose(state, true); }

// One evaluation after 1% of the results changed (range(2): 0 clustered, 1
// scattered). Each iteration flips the chosen results between ok and
// refused and moves time on by 1 ms, so every Update is a real change.
void BM_DiagnoseIncremental(benchmark::State& state) {
  int targets = static_cast<int>(state.range(0)), probes = static_cast<int>(state.range(1));
  const int shape = static_cast<int>(state.range(2));
  const bool scattered = shape == 1;
  World& world = WorldFor(targets, probes, false);
  Input& in = world.input;
  Fleet fleet(in.stale_intervals);
  for (const std::string& p : world.probe_names) fleet.SetProbe(fleet.Probe(p), in.probes[p]);
  for (int t = 0; t < targets; ++t) {
    const TargetInput& ti = in.targets[t];
    fleet.SetTarget(fleet.Target(ti.name), ti.interval_ms, ti.timeout_ms);
    for (int p = 0; p < probes; ++p) {
      fleet.Update(p, t, &world.results[t][p], ti.results[world.slot[p]].received_ms);
    }
  }
  int64_t now = kNow;
  fleet.Advance(now);
  // The changed pairs, fixed for the run.
  std::vector<std::pair<int, int>> changed;  // (target, probe)
  size_t n = static_cast<size_t>(targets) * probes / 100;
  std::mt19937 rng(42);
  if (scattered) {
    std::set<std::pair<int, int>> pick;
    while (pick.size() < n)
      pick.insert({static_cast<int>(rng() % targets), static_cast<int>(rng() % probes)});
    changed.assign(pick.begin(), pick.end());
  } else if (shape == 2) {
    std::set<int> pick;
    while (pick.size() < n / probes) pick.insert(static_cast<int>(rng() % targets));
    for (int t : pick) {
      for (int p = 0; p < probes; ++p) changed.push_back({t, p});
    }
  } else {
    for (int t = 0; t < targets && changed.size() < n; ++t) {
      for (int p = 0; p < probes; ++p) changed.push_back({t, p});
    }
  }
  // Two alternative results per changed pair, built once.
  std::vector<v1::CheckResult> alt[2];
  for (auto [t, p] : changed) {
    v1::CheckResult ok = world.results[t][p], refused = ok;
    ok.set_outcome(v1::OUTCOME_OK);
    refused.set_outcome(v1::OUTCOME_REFUSED);
    alt[0].push_back(ok);
    alt[1].push_back(refused);
  }
  size_t touched = 0, round = 0;
  for (auto _ : state) {
    now += 1;  // stays far inside the 35 s freshness window for any run length here
    const std::vector<v1::CheckResult>& next = alt[++round % 2];
    std::vector<int> dirty;
    dirty.reserve(changed.size());
    for (size_t i = 0; i < changed.size(); ++i) {
      auto [t, p] = changed[i];
      Observation& obs = in.targets[t].results[world.slot[p]];
      obs.result = &next[i];
      obs.received_ms = now;
      fleet.Update(p, t, obs.result, obs.received_ms);
      dirty.push_back(t);
    }
    std::vector<int> expired = fleet.Advance(now);
    dirty.insert(dirty.end(), expired.begin(), expired.end());
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    FleetContext ctx = fleet.Context();
    for (int t : dirty) {
      Verdict v = DiagnoseTarget(in.targets[t], ctx);
      benchmark::DoNotOptimize(v.cause);
    }
    touched = dirty.size();
  }
  // Put the world back as it was for the other benchmarks.
  for (auto [t, p] : changed) {
    Observation& obs = in.targets[t].results[world.slot[p]];
    obs.result = &world.results[t][p];
    obs.received_ms = kNow - 1000 - (t + p) % 5000;
  }
  state.counters["targets"] = targets;
  state.counters["probes"] = probes;
  state.counters["changed"] = static_cast<double>(changed.size());
  state.counters["rediagnosed"] = static_cast<double>(touched);
}

BENCHMARK(BM_DiagnoseAllOk)
    ->Args({1000, 10})
    ->Args({10000, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Diagnose)
    ->Args({1000, 10})
    ->Args({1000, 100})
    ->Args({10000, 10})
    ->Args({10000, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DiagnoseIncremental)
    ->ArgNames({"targets", "probes", "shape"})
    ->Args({10000, 100, 0})
    ->Args({10000, 100, 2})
    ->Args({10000, 100, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace parallax::collector::diagnosis
