// Microbenchmarks: the collector's live state (collector/state/live_state.h).
// Snapshot() copies every newest result under the state's lock; the evaluator
// takes one per evaluation, and ingest's UpdateResults waits meanwhile.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "collector/state/live_state.h"

namespace parallax::collector {
namespace {

void Fill(LiveState* s, int probes, int targets) {
  for (int p = 0; p < probes; ++p) {
    std::vector<v1::CheckResult> batch;
    for (int t = 0; t < targets; ++t) {
      v1::CheckResult r;
      r.set_seq(t + 1);
      r.set_target("target-" + std::to_string(t));
      r.set_outcome(v1::OUTCOME_OK);
      r.set_started_unix_ms(1'700'000'000'000);
      r.set_connect_us(1000);
      r.set_address("10.0.0.1:22");
      r.set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
      batch.push_back(std::move(r));
    }
    s->UpdateResults("probe-" + std::to_string(p), batch);
  }
}

void BM_LiveStateSnapshot(benchmark::State& state) {
  LiveState s;
  Fill(&s, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    StateSnapshot snap = s.Snapshot();
    benchmark::DoNotOptimize(snap.results.size());
  }
  state.counters["pairs"] = static_cast<double>(s.pair_count());
}
BENCHMARK(BM_LiveStateSnapshot)
    ->Args({10, 1000})
    ->Args({100, 1000})
    ->Args({100, 10000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Ingest's per-commit update: 1,000 results into existing pairs.
void BM_LiveStateUpdate(benchmark::State& state) {
  LiveState s;
  Fill(&s, 1, 1000);
  std::vector<v1::CheckResult> batch;
  for (int t = 0; t < 1000; ++t) {
    v1::CheckResult r;
    r.set_target("target-" + std::to_string(t));
    r.set_outcome(v1::OUTCOME_OK);
    r.set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    batch.push_back(std::move(r));
  }
  int64_t ms = 1'700'000'001'000;
  for (auto _ : state) {
    for (auto& r : batch) r.set_started_unix_ms(ms);
    ++ms;
    s.UpdateResults("probe-0", batch);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_LiveStateUpdate);

}  // namespace
}  // namespace parallax::collector
