// Classification: rule 3 of the diagnosis (engine.h) for one target — the
// cause, a Role per evidence row, the agreeing set and the confidence. No
// prose is built here (wording.h does that), so a caller can classify cheaply
// and word only what it shows.
//
// Pure and thread-safe: reads its arguments only. The Classification points
// into `target` and `context`: keep both alive while it is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/fleet.h"

namespace parallax::collector::diagnosis {

// How an SSH outcome fails, for "do they all fail alike?".
enum class Kind { kOk, kRefused, kFiltered, kUnresponsive, kNotSsh, kDns };
Kind KindOf(v1::Outcome o);

// An ICMP reply, or a liveness port that answered (open or refusing).
bool AliveEvidence(const v1::CheckResult& r);
// Liveness evidence was gathered at all (ICMP tried or ports checked).
bool LivenessTried(const v1::CheckResult& r);
// Something on the far side answered this probe (alive evidence, a refusal,
// a TCP connect, another protocol): the probe's own network is not down.
bool SomethingAnswered(const v1::CheckResult& r);

struct Row {
  const std::string* probe = nullptr;  // Observation::probe
  const Observation* observation = nullptr;
  const ProbeFacts* facts = nullptr;  // null: the probe is not in the context
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

struct Classification {
  v1::Cause cause = v1::CAUSE_UNKNOWN;
  double confidence = 0;
  std::vector<Row> rows;  // one per TargetInput::results entry, in its order
  // Indices into rows. Fresh results of healthy probes: reading SSH, failing
  // (outside blocked networks), failing in a blocked network (set aside).
  std::vector<uint32_t> ok, fail, aside;
  std::vector<uint32_t> agreeing;  // the rows that support the cause (empty for partial/unknown)
  size_t agreeing_networks = 0;    // distinct networks among them
};

// Distinct networks among rows[idx] (rows of listed probes only: ok, fail,
// aside, agreeing).
size_t DistinctNetworks(const std::vector<Row>& rows, const std::vector<uint32_t>& idx);

Classification Classify(const TargetInput& target, const FleetContext& context);

// Confidence of a cause seen by `agreeing` vantage points in `networks`
// networks: 1 - 0.5^n + 0.05 x (networks - 1), capped at 0.99; 0 for none.
double Confidence(size_t agreeing, size_t networks);

}  // namespace parallax::collector::diagnosis
