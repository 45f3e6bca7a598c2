#include "probe/scheduler/check_run.h"

#include <chrono>
#include <set>

#include "probe/checks/icmp_echo_check.h"
#include "probe/checks/ssh_check.h"
#include "probe/checks/tcp_connect_check.h"

namespace parallax::probe {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':';
}

}  // namespace

Status ValidateTarget(const v1::Target& t) {
  // Names travel back in CheckResult.target, which the collector checks the same way.
  if (t.name().empty() || t.name().size() > 128) {
    return Status::InvalidArgument("target name \"" + t.name().substr(0, 140) +
                                   "\" must be 1..128 characters");
  }
  for (char c : t.name()) {
    if (!NameChar(c)) {
      return Status::InvalidArgument("target name \"" + t.name() +
                                     "\" may contain only letters, digits, '.', '_', '-', ':'");
    }
  }
  std::string at = "target \"" + t.name() + "\": ";
  if (t.host().empty() || t.host().size() > 253) {
    return Status::InvalidArgument(at + "host \"" + t.host().substr(0, 260) +
                                   "\" must be 1..253 characters");
  }
  if (t.port() == 0 || t.port() > 65535) {
    return Status::InvalidArgument(at + "port " + std::to_string(t.port()) + " is not in 1..65535");
  }
  if (t.interval_ms() < kMinIntervalMs) {
    return Status::InvalidArgument(at + "interval_ms " + std::to_string(t.interval_ms()) +
                                   " is below " + std::to_string(kMinIntervalMs));
  }
  if (t.timeout_ms() == 0) return Status::InvalidArgument(at + "timeout_ms 0 must be positive");
  if (t.liveness_ports_size() > kMaxLivenessPorts) {
    return Status::InvalidArgument(at + std::to_string(t.liveness_ports_size()) +
                                   " liveness_ports, at most " + std::to_string(kMaxLivenessPorts));
  }
  for (uint32_t p : t.liveness_ports()) {
    if (p == 0 || p > 65535) {
      return Status::InvalidArgument(at + "liveness port " + std::to_string(p) +
                                     " is not in 1..65535");
    }
  }
  return Status::Ok();
}

bool WantsLiveness(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_TIMEOUT || outcome == v1::OUTCOME_HOST_UNREACHABLE ||
         outcome == v1::OUTCOME_NETWORK_UNREACHABLE;
}

std::shared_ptr<CheckRun> CheckRun::Create(boost::asio::io_context& io, v1::Target target,
                                           std::string identification, IcmpBudget* icmp_budget) {
  return std::shared_ptr<CheckRun>(
      new CheckRun(io, std::move(target), std::move(identification), icmp_budget));
}

CheckRun::CheckRun(boost::asio::io_context& io, v1::Target target, std::string identification,
                   IcmpBudget* icmp_budget)
    : io_(io),
      target_(std::move(target)),
      identification_(std::move(identification)),
      icmp_budget_(icmp_budget) {}

void CheckRun::Start(Done done) {
  done_ = std::move(done);
  auto ssh = SshCheck::Create(
      io_, {target_.host(), static_cast<uint16_t>(target_.port()), identification_});
  ssh_ = ssh;
  StartWithDeadline(io_, ssh, std::chrono::milliseconds(target_.timeout_ms()),
                    [self = shared_from_this()] { self->OnSshDone(); });
}

void CheckRun::Cancel() {
  cancelled_ = true;
  if (ssh_) ssh_->Cancel();
  for (auto& c : liveness_) c->Cancel();
}

void CheckRun::OnSshDone() {
  auto* ssh = static_cast<SshCheck*>(ssh_.get());
  result_ = std::move(*ssh->mutable_result());
  bool resolved = ssh->address().has_value();
  boost::asio::ip::address address;
  if (resolved) address = *ssh->address();
  ssh_.reset();
  if (cancelled_ || !WantsLiveness(result_.outcome()) || !resolved) {
    Done done = std::move(done_);
    done(std::move(result_));
    return;
  }
  std::chrono::milliseconds timeout(target_.timeout_ms());
  std::shared_ptr<IcmpEchoCheck> icmp;
  if (icmp_budget_ == nullptr || icmp_budget_->in_flight < icmp_budget_->max) {
    icmp = IcmpEchoCheck::Create(io_, address);
    if (icmp_budget_ != nullptr) ++icmp_budget_->in_flight;
  }
  std::vector<std::shared_ptr<TcpConnectCheck>> ports;
  std::set<uint32_t> seen;
  for (uint32_t p : target_.liveness_ports()) {
    if (!seen.insert(p).second) continue;
    ports.push_back(TcpConnectCheck::Create(
        io_, boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(p))));
  }
  if (icmp) liveness_.push_back(icmp);
  for (auto& p : ports) liveness_.push_back(p);
  liveness_pending_ = static_cast<int>(liveness_.size());
  finish_liveness_ = [this, icmp, ports] {
    v1::Liveness* l = result_.mutable_liveness();
    if (icmp) {
      icmp->FillLiveness(l);
      if (icmp_budget_ != nullptr) --icmp_budget_->in_flight;
    } else {
      l->set_icmp_error("skipped: " + std::to_string(icmp_budget_->max) +
                        " pings already in flight");
    }
    for (const auto& p : ports) *l->add_ports() = p->result();
  };
  if (liveness_.empty()) {  // no ping budget left and no liveness ports: nothing to wait for
    liveness_pending_ = 1;
    OnLivenessPartDone();
    return;
  }
  for (auto& c : liveness_) {
    StartWithDeadline(io_, c, timeout, [self = shared_from_this()] { self->OnLivenessPartDone(); });
  }
}

void CheckRun::OnLivenessPartDone() {
  if (--liveness_pending_ > 0) return;
  finish_liveness_();
  finish_liveness_ = nullptr;
  liveness_.clear();
  Done done = std::move(done_);
  done(std::move(result_));
}

}  // namespace parallax::probe
