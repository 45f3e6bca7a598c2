// Microbenchmarks: the status page (collector/web/html.h) for T targets x P
// probes: the server-rendered matrix page (IndexPage) and the JSON document
// its script polls every 5 s (StatusDocument, dumped), from a StatusResponse
// as the query service builds it. Reported per call and as bytes.
#include <benchmark/benchmark.h>

#include <string>

#include "collector/web/html.h"

namespace parallax::collector::web {
namespace {

v1::StatusResponse Fleet(int targets, int probes) {
  v1::StatusResponse s;
  for (int t = 0; t < targets; ++t) {
    v1::TargetStatus* ts = s.add_targets();
    ts->set_name("target-" + std::to_string(t));
    ts->set_host("10.0." + std::to_string(t / 250) + "." + std::to_string(t % 250));
    ts->set_port(22);
    ts->set_cause(t % 50 == 0 ? v1::CAUSE_FIREWALL_BLOCK : v1::CAUSE_OK);
    ts->set_summary("SSH answers from every vantage point");
    for (int p = 0; p < probes; ++p) {
      v1::ProbeStatus* ps = ts->add_probes();
      ps->set_probe("probe-" + std::to_string(p));
      ps->set_connected(true);
      ps->set_outcome(t % 50 == 0 ? v1::OUTCOME_TIMEOUT : v1::OUTCOME_OK);
      ps->set_connect_ms(1.234);
      ps->set_banner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
      ps->set_age_s(3);
    }
  }
  for (int p = 0; p < probes; ++p) {
    v1::ProbeInfo* pi = s.add_probes();
    pi->set_name("probe-" + std::to_string(p));
    pi->set_connected(true);
    pi->set_version("0.1.0");
    (*pi->mutable_labels())["network"] = "isp-" + std::to_string(p);
  }
  return s;
}

void BM_IndexPage(benchmark::State& state) {
  v1::StatusResponse s = Fleet(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  v1::IncidentsResponse incidents;
  v1::ExplainResponse explain;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string html = IndexPage(s, incidents, explain, 1'700'000'000'000);
    bytes = html.size();
    benchmark::DoNotOptimize(html);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_IndexPage)->Args({100, 10})->Args({1000, 10})->Unit(benchmark::kMillisecond);

void BM_StatusDocument(benchmark::State& state) {
  v1::StatusResponse s = Fleet(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  v1::IncidentsResponse incidents;
  v1::ExplainResponse explain;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string json = DumpCompact(StatusDocument(s, incidents, explain, 1'700'000'000'000));
    bytes = json.size();
    benchmark::DoNotOptimize(json);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_StatusDocument)->Args({100, 10})->Args({1000, 10})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace parallax::collector::web
