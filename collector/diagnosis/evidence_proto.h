// Evidence rows as the query API carries them (v1::EvidenceItem): what the
// engine worded (Evidence) and what the probe's result itself shows (its
// pre-banner lines, the ICMP error and TCP path of the SSH connect, the
// address checked and every DNS answer, the host key). One place for both
// the evaluator's verdicts and `parallax check`'s, so the two never differ
// in what they show.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "collector/diagnosis/engine.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector::diagnosis {

// The verdict's own fields: target, host, port, cause, confidence, summary,
// since, evaluated, and the lists (disagreeing, remediation, blocked
// networks, pinned host keys). The evidence rows are the caller's (below).
void SetVerdictFields(const Verdict& v, const std::string& host, uint32_t port, int64_t since_ms,
                      int64_t now_ms, v1::Verdict* out);

// The worded row: probe, network, outcome, connect time, age, detail, role,
// liveness and the host key. Labels and clock offset are the caller's.
void SetWordedEvidence(const Evidence& e, v1::EvidenceItem* item);

// What `result` (the row's newest result) shows beyond the wording.
void SetResultEvidence(const v1::CheckResult& result, v1::EvidenceItem* item);

}  // namespace parallax::collector::diagnosis
