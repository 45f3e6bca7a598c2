// Microbenchmarks: the collector's Prometheus exposition. Rendering /metrics
// (collector/metrics/metrics.h registry + prometheus::TextSerializer, what
// prometheus-cpp's exposer does per scrape) for P probes x T targets, and
// the ingest hot path ObserveResults for a batch of 1,000 results.
#include <benchmark/benchmark.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/metrics/metrics.h"

namespace parallax::collector {
namespace {

std::vector<v1::CheckResult> Batch(int targets, int first, int n, int64_t ms) {
  std::vector<v1::CheckResult> out;
  for (int i = 0; i < n; ++i) {
    v1::CheckResult r;
    r.set_target("target-" + std::to_string((first + i) % targets));
    r.set_started_unix_ms(ms);
    r.set_outcome((first + i) % 50 == 0 ? v1::OUTCOME_TIMEOUT : v1::OUTCOME_OK);
    r.set_connect_us(1234);
    r.set_banner_us(2345);
    out.push_back(std::move(r));
  }
  return out;
}

// Every probe has reported every target once.
std::unique_ptr<Metrics> Filled(int probes, int targets) {
  auto m = std::make_unique<Metrics>();
  for (int p = 0; p < probes; ++p) {
    std::string probe = "probe-" + std::to_string(p);
    m->SetProbeConnected(probe, true);
    m->SetProbeHealthy(probe, true);
    m->ObserveResults(probe, Batch(targets, 0, targets, 1'700'000'000'000));
  }
  for (int t = 0; t < targets; ++t) m->SetTargetCause("target-" + std::to_string(t), v1::CAUSE_OK);
  return m;
}

void BM_RenderMetrics(benchmark::State& state) {
  static std::map<std::pair<int, int>, std::unique_ptr<Metrics>> cache;
  auto key = std::make_pair(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  auto& m = cache[key];
  if (!m) m = Filled(key.first, key.second);
  size_t bytes = 0, series = 0;
  for (auto _ : state) {
    std::string text = prometheus::TextSerializer().Serialize(m->registry()->Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  for (const auto& family : m->registry()->Collect()) {
    series += family.metric.size();  // a histogram counts as one here
  }
  state.counters["probes"] = key.first;
  state.counters["targets"] = key.second;
  state.counters["series"] = static_cast<double>(series);
  state.counters["MB"] = bytes / 1e6;
}
BENCHMARK(BM_RenderMetrics)
    ->Args({10, 100})
    ->Args({10, 1000})
    ->Args({100, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One committed batch of 1,000 results into existing series (the steady state).
void BM_ObserveResults(benchmark::State& state) {
  Metrics m;
  const int targets = 1000;
  m.ObserveResults("probe-0", Batch(targets, 0, targets, 1'700'000'000'000));
  std::vector<v1::CheckResult> batch = Batch(targets, 0, 1000, 1'700'000'001'000);
  for (auto _ : state) m.ObserveResults("probe-0", batch);
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_ObserveResults);

}  // namespace
}  // namespace parallax::collector
