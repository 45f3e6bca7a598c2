// Fuzz target: the collector's handling of one arbitrary ProbeMessage, as a
// ProbeStream handles it, in-process and without gRPC or SQLite: parse the
// bytes, validate (collector/ingest/validate.h), answer a Hello with its
// Assignment (BuildAssignment over a config with label selectors), apply
// results and heartbeats to LiveState and Metrics, and round-trip what the
// store would encode (collector/store/codec.h: labels and pre_banner JSON,
// liveness bytes).
//
// The Store is not exercised here (no in-memory Store exists; SQLite per
// input would measure fsync, not parsing). Checked: no crash, no leak, no UB,
// codec round trips are exact, an assignment only holds targets whose
// selector matches, and whatever validation accepts is bounded in bytes.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "collector/config/config.h"
#include "collector/ingest/assignment.h"
#include "collector/ingest/validate.h"
#include "collector/metrics/metrics.h"
#include "collector/state/live_state.h"
#include "collector/store/codec.h"
#include "fuzz/fuzz_util.h"
#include "parallax/v1/probe.pb.h"

namespace pc = parallax::collector;
namespace v1 = parallax::v1;

namespace {

constexpr char kConfig[] = R"(
targets:
  - {name: all, host: 127.0.0.1}
  - {name: eu, host: ::1, port: 2222, probes: {site: eu}, labels: {env: prod}}
  - {name: "eu:db", host: db.example, probes: {site: eu, net: lan}, liveness_ports: [80, 443]}
  - {name: us, host: 127.0.0.2, interval: 30s, timeout: 3s, probes: {site: us}}
)";

const pc::ConfigSnapshot& Snapshot() {
  static const pc::ConfigSnapshot* snapshot = [] {
    auto config = std::make_shared<pc::Config>();
    parallax::Status st = pc::ParseConfig(kConfig, "fuzz", config.get());
    FUZZ_CHECK(st.ok());
    return new pc::ConfigSnapshot{config, 7};
  }();
  return *snapshot;
}

void RoundTripLabels(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> back;
  FUZZ_CHECK(pc::LabelsFromJson(pc::LabelsToJson(labels), &back).ok());
  FUZZ_CHECK(back == labels);
}

void HandleHello(const v1::Hello& hello, pc::LiveState* state, pc::Metrics* metrics) {
  if (!pc::ValidateHello(hello).ok()) return;
  std::map<std::string, std::string> labels(hello.labels().begin(), hello.labels().end());
  RoundTripLabels(labels);
  state->ProbeConnected(hello, "ipv4:127.0.0.1:1", 1000);
  (void)metrics->Collect();  // /metrics renders from the state
  v1::Assignment a = pc::BuildAssignment(Snapshot(), labels);
  FUZZ_CHECK(a.generation() == 7);
  for (const v1::Target& t : a.targets()) {
    const pc::TargetConfig* config = Snapshot().config->FindTarget(t.name());
    FUZZ_CHECK(config != nullptr && config->SelectsProbe(labels));
  }
}

void HandleResults(const v1::ResultBatch& batch, pc::LiveState* state, pc::Metrics* metrics) {
  std::vector<v1::CheckResult> valid;
  for (int i = 0; i < batch.results_size(); ++i) {
    const v1::CheckResult& r = batch.results(i);
    parallax::Status st = pc::ValidateResult(r, i);
    if (!st.ok()) {
      FUZZ_CHECK(st.message().rfind("results[" + std::to_string(i) + "]", 0) == 0);
      continue;
    }
    // What the store keeps of one result is bounded in bytes (validate.cc's
    // limits add up to about 22 KiB).
    FUZZ_CHECK(r.ByteSizeLong() <= 32 * 1024);
    std::vector<std::string> lines(r.pre_banner().begin(), r.pre_banner().end());
    std::vector<std::string> back;
    FUZZ_CHECK(pc::PreBannerFromJson(pc::PreBannerToJson(lines), &back).ok());
    FUZZ_CHECK(back == lines);
    v1::Liveness liveness;
    FUZZ_CHECK(liveness.ParseFromString(r.liveness().SerializeAsString()));
    valid.push_back(r);
  }
  state->UpdateResults("fuzz-probe", valid);
  state->ProbeSeen("fuzz-probe", 2000);
  (void)metrics->Collect();
  (void)state->Snapshot();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in string fields fails the parse (as in the collector), and
  // protobuf logs every such input: silence that.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::ProbeMessage msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  // Fresh per input: series and state must not accumulate across inputs.
  pc::LiveState state;
  pc::Metrics metrics(&state);
  switch (msg.msg_case()) {
    case v1::ProbeMessage::kHello:
      HandleHello(msg.hello(), &state, &metrics);
      break;
    case v1::ProbeMessage::kResults:
      HandleResults(msg.results(), &state, &metrics);
      break;
    case v1::ProbeMessage::kHeartbeat:
      state.ProbeHeartbeat("fuzz-probe", msg.heartbeat(), 3000);
      break;
    default:
      break;
  }
  return 0;
}
