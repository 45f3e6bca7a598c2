// The diagnosis engine: names one cause per target from the latest result of
// every probe (vantage point), with its evidence, confidence and remediation.
//
// Pure: data and time in, verdicts out. No I/O, no clock, no globals;
// deterministic for equal input. Thread-safe (no shared state).
//
// Rules, in order (docs/DIAGNOSIS.md has the full table):
//  1. Probe health first. A probe is unhealthy — excluded from every target
//     verdict and reported as a probe problem — when it is disconnected, when
//     nothing came from it for `stale_intervals` x its shortest interval, or
//     when it fails every target it checks and none of its liveness evidence
//     answers either (its own network is down), while another probe reaches
//     one of those targets.
//  2. Blocked networks. A network (the probe label `network`; a probe without
//     one is a network of its own) is SSH-blocked when all its healthy probes
//     fail SSH to every target they check while probes elsewhere reach at
//     least one of those targets.
//  3. Per target, over fresh results of healthy probes: failures of probes in
//     blocked networks are set aside as explained by `isp_block`; the rest
//     decide — all ok: ok (or isp_block if failures were set aside); all fail
//     alike: ssh_refused, ssh_unresponsive, not_ssh, dns_error, or for
//     timeouts/unreachables firewall_block when liveness evidence shows the
//     host up, host_offline when not; some fail: source_block when every
//     failing probe reaches other targets, else partial.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "parallax/v1/outcome.pb.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector::diagnosis {

using Labels = std::map<std::string, std::string>;

struct ProbeInput {
  Labels labels;
  bool connected = false;
  int64_t last_seen_ms = 0;  // last message received from the probe
};

struct TargetInput {
  std::string name;
  std::string host;
  uint32_t port = 22;
  int64_t interval_ms = 10000;
  int64_t timeout_ms = 5000;
  std::map<std::string, v1::CheckResult> results;  // probe -> its newest result
};

struct Input {
  int64_t now_ms = 0;
  std::map<std::string, ProbeInput> probes;
  std::vector<TargetInput> targets;
  int stale_intervals = 3;  // a result older than this many intervals (+ timeout) is stale
};

struct Evidence {
  std::string probe;
  std::string network;  // the label, or "probe:<name>" when absent
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  double connect_ms = 0;
  double age_s = 0;
  // Errno text, the server's lines, liveness summary; filled for verdicts
  // other than ok (an ok verdict's evidence is its outcome and latency).
  std::string detail;
  bool alive_evidence = false;  // ICMP reply or a liveness port answered
  // "agrees", "agrees (reaches it)", "agrees (blocked)", "disagrees",
  // "reaches it", "set aside: its network blocks SSH", "excluded: stale",
  // "excluded: unhealthy probe" (static strings).
  std::string_view role;
};

struct Verdict {
  std::string target;
  v1::Cause cause = v1::CAUSE_UNKNOWN;
  double confidence = 0;  // 0..1
  std::string summary;    // one sentence
  std::vector<Evidence> evidence;
  std::vector<std::string> disagreeing;  // probes whose result does not fit the cause
  std::vector<std::string> remediation;
  std::vector<std::string> blocked_networks;  // for isp_block
};

struct ProbeHealth {
  std::string probe;
  Labels labels;
  bool healthy = true;
  std::string reason;  // why not, in words
};

struct Output {
  std::vector<Verdict> verdicts;  // in input target order
  std::vector<ProbeHealth> probes;
  std::vector<std::string> blocked_networks;
};

Output Diagnose(const Input& input);

// The steps an admin takes for a cause, in order.
std::vector<std::string> Remediation(v1::Cause cause);

}  // namespace parallax::collector::diagnosis
