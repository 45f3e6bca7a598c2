// Microbenchmarks: the collector's Prometheus exposition and its memory.
// Rendering /metrics = Metrics::Render(): Collect() (the registry's event
// counters plus the StateCollectable rendering from the LiveState and the
// published diagnosis) written by our exposition writer, what a scrape costs,
// for P probes x T targets. Its peer, side by side: the same families through
// prometheus::TextSerializer, what prometheus-cpp's exposer did per scrape
// (BM_RenderMetricsTextSerializer). BM_CollectMetrics is Collect() alone. BM_PairMemory: heap bytes
// per probe x target pair held by the live state and the metrics (mallinfo2 slope from 10 to 300
// probes x 1,000 targets, after a scrape).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/metrics/metrics.h"
#include "collector/state/live_state.h"

namespace parallax::collector {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

std::vector<v1::CheckResult> Batch(int targets, int64_t ms) {
  std::vector<v1::CheckResult> out;
  out.reserve(targets);
  for (int t = 0; t < targets; ++t) {
    v1::CheckResult r;
    r.set_seq(t + 1);
    r.set_target("target-" + std::to_string(t));
    r.set_outcome(t % 50 == 0 ? v1::OUTCOME_TIMEOUT : v1::OUTCOME_OK);
    r.set_started_unix_ms(ms);
    r.set_collector_started_unix_ms(ms);
    r.set_received_unix_ms(ms + 20);
    r.set_connect_us(1234);
    r.set_banner_us(2345);
    r.set_address("10.0.0.1:22");
    r.set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    out.push_back(std::move(r));
  }
  return out;
}

class AllHealthy : public DiagnosisSource {
 public:
  DiagnosisFacts Facts() const override { return facts; }
  DiagnosisFacts facts;
};

struct World {
  LiveState state;
  Metrics metrics{&state};
  AllHealthy diagnosis;
};

// Every probe connected, with a heartbeat and a measured clock, has reported
// every target once; every target ok, every probe healthy.
std::unique_ptr<World> Filled(int probes, int targets) {
  auto w = std::make_unique<World>();
  w->metrics.SetDiagnosisSource(&w->diagnosis);
  std::vector<v1::CheckResult> batch = Batch(targets, kT0);
  for (int p = 0; p < probes; ++p) {
    std::string probe = "probe-" + std::to_string(p);
    v1::Hello hello;
    hello.set_probe_name(probe);
    (*hello.mutable_labels())["network"] = "isp-" + std::to_string(p % 4);
    (*hello.mutable_labels())["site"] = "site-" + std::to_string(p);
    w->state.ProbeConnected(hello, "ipv4:10.1.0.1:40000", kT0);
    w->state.ProbeHeartbeat(probe, v1::Heartbeat(), kT0);
    w->state.ProbeClock(probe, 3, 1);
    w->state.UpdateResults(probe, batch);
    w->diagnosis.facts.probes.push_back({probe, true, false, false});
  }
  for (int t = 0; t < targets; ++t) {
    w->diagnosis.facts.target_causes.emplace_back("target-" + std::to_string(t), v1::CAUSE_OK);
  }
  return w;
}

World& Cached(int probes, int targets) {
  static std::map<std::pair<int, int>, std::unique_ptr<World>> cache;
  auto& w = cache[{probes, targets}];
  if (!w) w = Filled(probes, targets);
  return *w;
}

void BM_RenderMetrics(benchmark::State& state) {
  const int probes = static_cast<int>(state.range(0)), targets = static_cast<int>(state.range(1));
  World& w = Cached(probes, targets);
  size_t bytes = 0, series = 0;
  for (auto _ : state) {
    std::string text;
    w.metrics.Render(&text);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  for (const auto& family : w.metrics.Collect()) {
    series += family.metric.size();  // a histogram counts as one here
  }
  state.counters["probes"] = probes;
  state.counters["targets"] = targets;
  state.counters["series"] = static_cast<double>(series);
  state.counters["MB"] = bytes / 1e6;
}
BENCHMARK(BM_RenderMetrics)
    ->Args({10, 100})
    ->Args({10, 1000})
    ->Args({100, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The peer: prometheus-cpp's serializer over the same families.
void BM_RenderMetricsTextSerializer(benchmark::State& state) {
  World& w = Cached(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    std::string text = prometheus::TextSerializer().Serialize(w.metrics.Collect());
    benchmark::DoNotOptimize(text.data());
  }
}
BENCHMARK(BM_RenderMetricsTextSerializer)
    ->Args({100, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The Collect() half of a render (our part; the rest is prometheus-cpp's
// TextSerializer).
void BM_CollectMetrics(benchmark::State& state) {
  World& w = Cached(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    auto families = w.metrics.Collect();
    benchmark::DoNotOptimize(families.data());
  }
}
BENCHMARK(BM_CollectMetrics)->Args({100, 1000})->Unit(benchmark::kMillisecond)->UseRealTime();

// Ingest's per-commit work for the state and the metrics: 1,000 results into
// existing pairs (one shard lock per shard touched; no metric is updated).
void BM_IngestResultsIntoState(benchmark::State& state) {
  LiveState s;
  std::vector<v1::CheckResult> batch = Batch(1000, kT0);
  s.UpdateResults("probe-0", batch);
  int64_t ms = kT0;
  for (auto _ : state) {
    ms += 1000;
    for (auto& r : batch) r.set_collector_started_unix_ms(ms);
    s.UpdateResults("probe-0", batch);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_IngestResultsIntoState);

size_t HeapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

// Bytes per probe x target pair: heap in use with 300 x 1,000 pairs minus
// with 10 x 1,000, over 290,000 pairs; each measured after one scrape (the
// render's transient memory is freed; nothing per pair stays in Metrics).
void BM_PairMemory(benchmark::State& state) {
  double per_pair = 0;
  for (auto _ : state) {
    size_t at[2] = {0, 0};
    const int probes[2] = {10, 300};
    for (int i = 0; i < 2; ++i) {
      const size_t before = HeapInUse();
      auto w = Filled(probes[i], 1000);
      benchmark::DoNotOptimize(prometheus::TextSerializer().Serialize(w->metrics.Collect()));
      at[i] = HeapInUse() - before;
    }
    per_pair = static_cast<double>(at[1] - at[0]) / (290 * 1000);
  }
  state.counters["bytes_per_pair"] = per_pair;
}
BENCHMARK(BM_PairMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace parallax::collector
