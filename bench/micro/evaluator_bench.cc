// Microbenchmarks of the collector's evaluator (collector/server/evaluator.h):
// one evaluation at 10,000 targets x 100 probes over a real LiveState, with
// hysteresis, incidents (in the FakeStore) and publishing — what the
// collector does once per period, side by side:
//  - BM_EvaluatorPass/shape:3  full: a full evaluation (new Fleet read from
//    the whole LiveState, every target diagnosed); the bar: 100 ms.
//  - shape:0 clustered, 2 scattered targets, 1 scattered pairs: an
//    incremental evaluation after 1% of the results (10,000) changed, the
//    same shapes as BM_DiagnoseIncremental (diagnosis_bench.cc); the bar:
//    10 ms. Scattered pairs touch ~63% of the targets, each of which must be
//    re-diagnosed.
// Results change between ok and refused every iteration; feeding them into
// LiveState (ingest's work, not the evaluator's) is outside the timing.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "collector/server/evaluator.h"
#include "collector/store/fake_store.h"
#include "common/log.h"

namespace parallax::collector {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

v1::CheckResult MakeResult(const std::string& target, int t, int p, int networks, int64_t at) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_started_unix_ms(at);
  r.set_collector_started_unix_ms(at);
  r.set_received_unix_ms(at);
  int kind = t % 100;
  bool blocked_here = p % networks == 0;
  if (kind < 94 || (kind < 99 && kind >= 97 && !blocked_here)) {
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

void BM_EvaluatorPass(benchmark::State& state) {
  SetLogLevel(LogLevel::kError);  // one line per transition: 10,000 at the first evaluation
  const int targets = static_cast<int>(state.range(0)), probes = static_cast<int>(state.range(1));
  const int shape = static_cast<int>(state.range(2));
  const int networks = std::max(1, probes / 10);
  auto config = std::make_shared<Config>();
  for (int t = 0; t < targets; ++t) {
    TargetConfig tc;
    tc.name = "target-" + std::to_string(t);
    tc.host = "10.0." + std::to_string(t / 250) + "." + std::to_string(t % 250);
    tc.interval = std::chrono::seconds(10);
    tc.timeout = std::chrono::seconds(5);
    config->targets.push_back(tc);
  }
  config->diagnosis.hysteresis = 2;
  ConfigSnapshot snapshot{config, 1};
  int64_t now = kNow;
  FakeStore store;
  World world;
  LiveState& live = world.live();
  Metrics metrics;
  std::vector<std::string> names;
  for (int p = 0; p < probes; ++p) {
    names.push_back("probe-" + std::to_string(p));
    v1::Hello h;
    h.set_probe_name(names.back());
    (*h.mutable_labels())["network"] = "isp-" + std::to_string(p % networks);
    live.ProbeConnected(h, "peer", now);
    std::vector<v1::CheckResult> batch;
    batch.reserve(targets);
    for (int t = 0; t < targets; ++t) {
      batch.push_back(MakeResult(config->targets[t].name, t, p, networks, now - 1000));
    }
    live.UpdateResults(names.back(), batch);
  }
  Evaluator evaluator(
      &store, &world, &metrics, [&] { return snapshot; }, [&] { return now; });
  evaluator.set_full_every(shape == 3 ? 1 : 0);
  evaluator.EvaluateOnce();  // the first one is full
  evaluator.EvaluateOnce();
  store.CommitPending();

  std::vector<std::pair<int, int>> changed;  // (target, probe)
  const size_t n = static_cast<size_t>(targets) * probes / 100;
  std::mt19937 rng(42);
  if (shape == 1) {
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
  } else if (shape == 0) {
    for (int t = 0; t < targets && changed.size() < n; ++t) {
      for (int p = 0; p < probes; ++p) changed.push_back({t, p});
    }
  }
  // By probe: one UpdateResults per probe, as ingest does per batch.
  std::map<int, std::vector<v1::CheckResult>> by_probe;
  for (auto [t, p] : changed) {
    by_probe[p].push_back(MakeResult(config->targets[t].name, t, p, networks, now));
  }
  size_t rediagnosed = 0, round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    now += 1;  // far inside the 35 s freshness window for any run length here
    ++round;
    for (auto& [p, batch] : by_probe) {
      for (v1::CheckResult& r : batch) {
        r.set_outcome(round % 2 ? v1::OUTCOME_REFUSED : v1::OUTCOME_OK);
        r.set_collector_started_unix_ms(now);
        r.set_received_unix_ms(now);
      }
      live.UpdateResults(names[p], batch);
      live.ProbeSeen(names[p], now);
    }
    state.ResumeTiming();
    evaluator.EvaluateOnce();
    rediagnosed = evaluator.last_pass().rediagnosed;
    state.PauseTiming();
    store.CommitPending();  // the store's writer thread's work
    state.ResumeTiming();
  }
  state.counters["changed"] = static_cast<double>(changed.size());
  state.counters["rediagnosed"] = static_cast<double>(rediagnosed);
}

BENCHMARK(BM_EvaluatorPass)
    ->ArgNames({"targets", "probes", "shape"})
    ->Args({10000, 100, 3})
    ->Args({10000, 100, 0})
    ->Args({10000, 100, 2})
    ->Args({10000, 100, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace parallax::collector
