// CheckRun: one scheduled check of one target, end to end.
//
// Runs the SshCheck with the target's timeout as deadline. When its outcome
// is timeout, host_unreachable or network_unreachable (and an address was
// resolved), it then gathers liveness evidence: one ICMP echo and one TCP
// connect to each of the target's liveness_ports, all concurrently, each
// with the target's timeout as deadline, and reports once all are done.
// So such a result can arrive up to one extra timeout later; other outcomes
// do no liveness work.
//
// The result has everything but seq, target, generation and late_us (the
// scheduler fills those).
//
// Thread-safety: io_context thread only; `done` runs there exactly once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first
#include <vector>

#include "common/status.h"
#include "parallax/v1/probe.pb.h"
#include "probe/checks/check.h"

namespace parallax::probe {

// At most this many liveness ports are probed per target.
constexpr int kMaxLivenessPorts = 16;
// Targets run at most this often.
constexpr uint32_t kMinIntervalMs = 100;

// Whether the scheduler can run `target`; the error names the target, the
// field and the value, e.g. `target "web1": port 0 is not in 1..65535`.
Status ValidateTarget(const v1::Target& target);

// True for the outcomes that trigger liveness evidence.
bool WantsLiveness(v1::Outcome outcome);

// ICMP echoes in flight and the cap, shared by the runs of one scheduler
// (io_context thread only).
struct IcmpBudget {
  size_t in_flight = 0;
  size_t max = 256;
};

class CheckRun : public std::enable_shared_from_this<CheckRun> {
 public:
  using Done = std::function<void(v1::CheckResult&& result)>;

  static std::shared_ptr<CheckRun> Create(boost::asio::io_context& io, v1::Target target,
                                          std::string identification,
                                          IcmpBudget* icmp_budget = nullptr);

  void Start(Done done);
  // Cancels whatever runs now (each check reports its deadline outcome);
  // `done` still runs, once.
  void Cancel();

 private:
  CheckRun(boost::asio::io_context& io, v1::Target target, std::string identification,
           IcmpBudget* icmp_budget);
  void OnSshDone();
  void OnLivenessPartDone();

  boost::asio::io_context& io_;
  v1::Target target_;
  std::string identification_;
  Done done_;
  v1::CheckResult result_;
  std::shared_ptr<Check> ssh_;
  std::vector<std::shared_ptr<Check>> liveness_;
  std::function<void()> finish_liveness_;
  int liveness_pending_ = 0;
  bool cancelled_ = false;
  IcmpBudget* icmp_budget_;  // may be null: no cap
};

}  // namespace parallax::probe
