// Microbenchmarks: encoding results for the wire (protobuf serialisation of a
// ResultBatch, as the probe's stream client sends it) and decoding them again
// (what the collector does per batch).
#include <benchmark/benchmark.h>

#include <string>

#include "parallax/v1/probe.pb.h"

namespace parallax {
namespace {

// A typical batch: 90% ok with an identification, 10% refused.
v1::ResultBatch MakeBatch(int n) {
  v1::ResultBatch batch;
  for (int i = 0; i < n; ++i) {
    v1::CheckResult* r = batch.add_results();
    r->set_seq(1000000 + i);
    r->set_target("target-" + std::to_string(i % 1000));
    r->set_started_unix_ms(1'700'000'000'000 + i);
    r->set_address("192.0.2." + std::to_string(i % 250) + ":22");
    r->set_generation(3);
    r->set_late_us(i % 500);
    if (i % 10 == 0) {
      r->set_outcome(v1::OUTCOME_REFUSED);
      r->set_error_number(111);
      r->set_detail("Connection refused");
    } else {
      r->set_outcome(v1::OUTCOME_OK);
      r->set_connect_us(250 + i % 100);
      r->set_banner_us(400 + i % 100);
      r->set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    }
  }
  return batch;
}

void BM_EncodeResultBatch(benchmark::State& state) {
  v1::ResultBatch batch = MakeBatch(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    batch.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_result"] = static_cast<double>(out.size()) / state.range(0);
}
BENCHMARK(BM_EncodeResultBatch)->Arg(1)->Arg(100)->Arg(1000);

// Building the CheckResult messages themselves (what a check fills in).
void BM_BuildResultBatch(benchmark::State& state) {
  for (auto _ : state) {
    v1::ResultBatch batch = MakeBatch(static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(batch.results_size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildResultBatch)->Arg(1000);

void BM_DecodeResultBatch(benchmark::State& state) {
  std::string bytes = MakeBatch(static_cast<int>(state.range(0))).SerializeAsString();
  for (auto _ : state) {
    v1::ResultBatch batch;
    benchmark::DoNotOptimize(batch.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeResultBatch)->Arg(1000);

}  // namespace
}  // namespace parallax
