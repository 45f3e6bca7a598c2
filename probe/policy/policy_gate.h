// PolicyGate: applies the probe's TargetPolicy to each assignment from the
// collector, logs every refused target, and keeps the refusals of the
// current assignment for the heartbeats that report them back
// (Heartbeat.policy_refusals / policy_refused / policy_generation).
//
// Also: the probe's policy flags (--allow-target, --allow-loopback,
// --allow-port, --min-interval, --max-targets, --max-connects-per-second),
// added to a CLI11 app in one place.
//
// Thread-safe (short internal lock): Apply runs on the stream's reader
// thread, FillHeartbeat/TakeReportDue on its writer thread.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "probe/policy/target_policy.h"

namespace parallax::probe {

struct TargetPolicyFlags {
  std::vector<std::string> allow_target;
  std::vector<std::string> allow_port;
  bool allow_loopback = false;
  std::string min_interval = "1s";
  size_t max_targets = 10000;
  double max_connects_per_second = 2000;
};

void AddTargetPolicyFlags(CLI::App& app, TargetPolicyFlags* flags);
// Checks the flags; the Status names the flag and the value.
Status MakeTargetPolicyOptions(const TargetPolicyFlags& flags, TargetPolicyOptions* out);

class PolicyGate {
 public:
  static constexpr int kMaxReported = 100;  // refusals per heartbeat, at most

  explicit PolicyGate(TargetPolicy policy) : policy_(std::move(policy)) {}

  v1::Assignment Apply(const v1::Assignment& in);
  void FillHeartbeat(v1::Heartbeat* hb) const;
  // Why `address` (what a DNS target resolved to) may not be checked, or "".
  // The host's own addresses are re-read at most every 10 s. Thread-safe.
  std::string ResolvedAddressRefusal(const std::string& address);
  // Why this probe refuses an ad-hoc check of `target` (address and port
  // rules; the interval and count limits are for assignments), or "".
  // Does not change the assignment's refusals. Thread-safe.
  std::string AdHocRefusal(const v1::Target& target) const;
  // True once after an Apply: a heartbeat should carry the news now.
  bool TakeReportDue() { return report_due_.exchange(false); }

 private:
  const TargetPolicy policy_;
  mutable std::mutex mu_;
  std::vector<v1::PolicyRefusal> refusals_;
  uint32_t refused_ = 0;
  uint64_t generation_ = 0;
  std::atomic<bool> report_due_{false};
  std::mutex own_mu_;
  std::vector<std::string> own_;  // this host's addresses, read at own_read_
  std::chrono::steady_clock::time_point own_read_{};
};

}  // namespace parallax::probe
