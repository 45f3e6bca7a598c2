// Wording: the English of a diagnosis — the summary of a classified target,
// the detail of each evidence row, a probe's health reason, remediation
// (remediation.cc). Everything a user reads is built here; the decisions are
// made in classify.h and fleet.h.
//
// Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "collector/diagnosis/classify.h"
#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/fleet.h"

namespace parallax::collector::diagnosis {

// The verdict for a classification of `target` under `context`: evidence rows
// (with details unless the cause is ok), summary, disagreeing probes,
// blocked networks (isp_block) and remediation.
Verdict Word(const TargetInput& target, const FleetContext& context, const Classification& c);

// True when Word(target, context, c) would give `previous` again, but for
// the evidence rows' ages and connect times (which move at every result):
// for an ok verdict (its wording is a function of the rows' probes, networks,
// outcomes, roles and liveness, the confidence and the target's port) with
// the same of each. Always false for other causes: their evidence details
// quote what the servers said. Lets the evaluator keep an unchanged ok
// verdict instead of wording it again (a full evaluation words 10,000).
bool SameWording(const Verdict& previous, const TargetInput& target, const Classification& c);

// Why a probe is unhealthy, in words ("" when healthy).
// `error_detail`: for kProbeErrors, the detail of one of its probe_error
// results (raw; quoted and bounded here).
std::string HealthReason(const ProbeFacts& facts, std::string_view error_detail = {});

// `text` in double quotes, printable ASCII only (others as \xNN, quotes and
// backslashes escaped), cut with "..." to at most about `max_bytes`: safe for
// a terminal, a log or /metrics. For what probes and servers send.
std::string Quote(std::string_view text, size_t max_bytes);

// A duration for people: "0.3 s", "12 s", "4 min 5 s".
std::string Seconds(int64_t ms);

}  // namespace parallax::collector::diagnosis
