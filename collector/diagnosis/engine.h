// The diagnosis engine: names one cause per target from the latest result of
// every probe (vantage point), with its evidence, confidence and remediation.
//
// Pure: data and time in, verdicts out. No I/O, no clock, no globals;
// deterministic for equal input. Diagnose() and DiagnoseTarget() are
// thread-safe (no shared state; their inputs are only read).
//
// Time: freshness and ages are judged on the time each result was RECEIVED
// (Observation::received_ms, the collector's clock) against `now_ms`; the
// probe's own CheckResult.started_unix_ms is never read here.
//
// Rules, in order (docs/DIAGNOSIS.md has the full table):
//  0. A probe_error result is no observation: never counted for or against
//     a target (role "excluded: probe error", unless stale or of an
//     unhealthy probe, which keep those roles).
//  1. Probe health first. A probe is unhealthy — excluded from every target
//     verdict and reported as a probe problem — when (first match wins)
//     a. it is disconnected;
//     b. nothing came from it for `stale_intervals` x the fleet's shortest
//        target interval + its longest timeout;
//     c. more than half of its fresh results are probe_error (it cannot run
//        checks);
//     d. it is isolated: fresh results for two targets at least, fails every
//        one of them, nothing answers it (its own network is down), while a
//        healthy probe in another network reaches one of those targets;
//     e. its SSH egress is filtered: fresh results for two targets at least,
//        fails SSH to every one, something answers it (so not d), a healthy
//        probe of its own network reads SSH (so its network is not blocked:
//        not rule 2), and others reach two of its failed targets at least.
//  2. Blocked networks. A network (the probe label `network`; a probe without
//     one is a network of its own) is SSH-blocked when each of its healthy
//     probes has fresh results and fails SSH to every target it checks, while
//     healthy probes in other networks reach at least TWO of those targets
//     (one target alone cannot tell an ISP block from a per-source ban on
//     that host: that case stays `partial`).
//  3. Per target, over fresh results of healthy probes: failures of probes in
//     blocked networks are set aside as explained by `isp_block`; the rest
//     decide — all ok: ok (or isp_block if failures were set aside); all fail
//     alike, named by what answered: refused — ssh_moved when every one
//     found SSH on the same alt port, firewall_block when an ICMP port-
//     unreachable/prohibited came back (from the host: a REJECT rule; from a
//     router: named), else ssh_refused (a TCP reset); ssh_unresponsive (with
//     the server's own words), not_ssh (saying what answered), dns_error; for
//     timeouts/unreachables firewall_block on an ICMP prohibition or when
//     liveness evidence shows the host up, host_offline when not (naming a
//     gateway that said host unreachable); some fail: source_block when
//     every failing probe reaches other targets, else partial — both
//     provisional (Verdict::provisional) while a failure is younger than
//     one interval + timeout.
//  4. Host keys, when the target has pinned keys and rule 3 says ok: the
//     newest verified host key of each ok vantage point that has one is
//     compared with the pins — none of them pinned from every such vantage
//     point: hostkey_changed; from some only: hostkey_mismatch.
//
// The work is split in pieces (each in its own file):
//  - fleet.h     rules 1-2: a Fleet (updated result by result) yields the
//                FleetContext (probe health, blocked networks, who reaches
//                any target) — incremental, for the collector's evaluator;
//  - classify.h  rule 3 for one target: cause, a Role per evidence row, the
//                agreeing set, confidence — no prose;
//  - wording.h   the summary, evidence details, probe-health reasons and
//                remediation for a classification.
// DiagnoseTarget() = Classify() + Word(); Diagnose() builds a Fleet from a
// whole Input and calls DiagnoseTarget() for every target: the incremental
// and the full evaluation are the same code and give identical verdicts
// (fleet_test.cc checks it on randomized fleets and update sequences, and
// collector/server/evaluator_test.cc at the evaluator's level).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parallax/v1/outcome.pb.h"
#include "parallax/v1/probe.pb.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector::diagnosis {

using Labels = std::map<std::string, std::string>;

struct ProbeInput {
  Labels labels;
  bool connected = false;
  int64_t last_seen_ms = 0;  // last message received from the probe (collector's clock)
};

// A probe's newest result for a target, as the collector received it.
struct Observation {
  std::string probe;
  const v1::CheckResult* result = nullptr;  // not owned; must outlive the call (never null)
  int64_t received_ms = 0;                  // when the collector received it (its clock)
  // The pair's history (collector/state PairState; 0 / empty: unknown): when
  // it last read SSH, when its current failures began (collector's clock),
  // the source address its checks leave from.
  int64_t last_ok_ms = 0;
  int64_t failing_since_ms = 0;
  std::string_view source_address;
  // The newest verified host key this probe saw for the target (from an
  // older result, possibly): null when none.
  const v1::HostKey* host_key = nullptr;
};

struct TargetInput {
  std::string name;
  std::string host;
  uint32_t port = 22;
  int64_t interval_ms = 10000;
  int64_t timeout_ms = 5000;
  // The newest result of each probe, one per probe, ordered by probe name
  // (a vector, not a map: a million of them are walked per full evaluation).
  // Unordered input still gives the right verdicts, only slower.
  std::vector<Observation> results;
  // Pinned host key fingerprints ("SHA256:..."); empty: nothing pinned yet,
  // host keys are not judged.
  std::vector<std::string> pinned_keys;
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
  double age_s = 0;  // now - received, seconds
  // Errno text, the server's lines, liveness summary; filled for verdicts
  // other than ok (an ok verdict's evidence is its outcome and latency).
  std::string detail;
  bool alive_evidence = false;  // ICMP reply or a liveness port answered
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string host_key_fingerprint;  // Observation::host_key, when set
  std::string host_key_type;
  // The role's stable word ("agrees", "excluded: stale", ...; common/words.h).
  std::string_view role_word() const;
};

struct Verdict {
  std::string target;
  v1::Cause cause = v1::CAUSE_UNKNOWN;
  double confidence = 0;                 // 0..1
  std::string summary;                   // one sentence (a few for ambiguous cases)
  std::vector<Evidence> evidence;        // one per result, in probe-name order
  std::vector<std::string> disagreeing;  // probes whose result does not fit the cause
  std::vector<std::string> remediation;
  std::vector<std::string> blocked_networks;  // for isp_block
  uint32_t port_worded = 0;  // the target port the summary was worded with (SameWording)
  std::vector<std::string> pinned_keys;  // TargetInput::pinned_keys
  // Some vantage points fail and others read SSH (source_block, partial),
  // and a failure began less than one interval + timeout ago (the collector's
  // clock): that probe has not checked its other targets since, so a ban of
  // it by this host cannot yet be told from its own egress breaking, nor a
  // fault of the host that the others have not checked yet. Hysteresis does
  // not count a provisional verdict toward a change of cause.
  bool provisional = false;
};

struct ProbeHealth {
  std::string probe;
  Labels labels;
  bool healthy = true;
  std::string reason;  // why not, in words
  // Distinct facts for metrics (the evaluator exports them per probe):
  // parallax_probe_ssh_egress_blocked{probe}: fails SSH to every target while
  // others reach them and answers come back to it (an egress filter in front
  // of it); cannot_run_checks: most of its results are probe_error.
  bool ssh_egress_blocked = false;
  bool cannot_run_checks = false;
};

struct Output {
  std::vector<Verdict> verdicts;              // in input target order
  std::vector<ProbeHealth> probes;            // by probe name
  std::vector<std::string> blocked_networks;  // sorted
};

struct FleetContext;  // fleet.h

// The full evaluation: every target of `input`.
Output Diagnose(const Input& input);

// One target's verdict against a fleet context (fleet.h). `target.results`
// must be what the Fleet that made `context` was told about this target
// (the same results and receive times); otherwise the verdict still follows
// the rules, but over a fleet context that does not match it.
Verdict DiagnoseTarget(const TargetInput& target, const FleetContext& context);
// The same, but gives back `previous` itself (no wording, no copy) when the
// new verdict would be worded the same but for its evidence rows' ages and
// connect times (wording.h, SameWording: unchanged ok verdicts). `previous`
// may be null.
std::shared_ptr<const Verdict> DiagnoseTarget(const TargetInput& target,
                                              const FleetContext& context,
                                              const std::shared_ptr<const Verdict>& previous);

// The steps an admin takes for a cause, in order.
std::vector<std::string> Remediation(v1::Cause cause);

}  // namespace parallax::collector::diagnosis
