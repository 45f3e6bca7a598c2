// Microbenchmarks: one evaluation of the diagnosis engine
// (collector/diagnosis/engine.h Diagnose) over T targets x P probes, the
// collector's periodic work. The bar: 10,000 x 100 under 50 ms.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "collector/diagnosis/engine.h"

namespace parallax::collector::diagnosis {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

// P probes in P/10 networks (at least 1); every probe checks every target.
// 94% of targets answer everywhere, 3% refuse everywhere, 2% time out from
// network 0 only (a source or ISP block), 1% time out everywhere with
// liveness evidence (a firewall).
Input MakeWorld(int targets, int probes, bool all_ok) {
  Input in;
  in.now_ms = kNow;
  int networks = std::max(1, probes / 10);
  for (int p = 0; p < probes; ++p) {
    ProbeInput pi;
    pi.labels["network"] = "isp-" + std::to_string(p % networks);
    pi.labels["site"] = "site-" + std::to_string(p);
    pi.connected = true;
    pi.last_seen_ms = kNow - 100;
    in.probes["probe-" + std::to_string(p)] = std::move(pi);
  }
  for (int t = 0; t < targets; ++t) {
    TargetInput ti;
    ti.name = "target-" + std::to_string(t);
    ti.host = "10.0." + std::to_string(t / 250) + "." + std::to_string(t % 250);
    ti.interval_ms = 10000;
    ti.timeout_ms = 5000;
    for (int p = 0; p < probes; ++p) {
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
      ti.results.emplace("probe-" + std::to_string(p), std::move(r));
    }
    in.targets.push_back(std::move(ti));
  }
  return in;
}

void RunDiagnose(benchmark::State& state, bool all_ok) {
  // Built once per size (10,000 x 100 is a million results, ~seconds to build).
  static std::map<std::tuple<int, int, bool>, std::unique_ptr<Input>> worlds;
  auto key = std::make_pair(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  auto& world = worlds[{key.first, key.second, all_ok}];
  if (!world) world = std::make_unique<Input>(MakeWorld(key.first, key.second, all_ok));
  size_t verdicts = 0;
  for (auto _ : state) {
    Output out = Diagnose(*world);
    verdicts = out.verdicts.size();
    benchmark::DoNotOptimize(out.verdicts.data());
  }
  state.counters["targets"] = key.first;
  state.counters["probes"] = key.second;
  state.counters["verdicts"] = static_cast<double>(verdicts);
  state.SetItemsProcessed(state.iterations() * key.first * key.second);
}

void BM_Diagnose(benchmark::State& state) { RunDiagnose(state, false); }
// Every target answers everywhere: no failure-correlation work at all.
void BM_DiagnoseAllOk(benchmark::State& state) { RunDiagnose(state, true); }

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

}  // namespace
}  // namespace parallax::collector::diagnosis
