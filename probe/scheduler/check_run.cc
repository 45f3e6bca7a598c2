#include "probe/scheduler/check_run.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <iterator>
#include <set>

#include "probe/checks/icmp_echo_check.h"
#include "probe/checks/net_util.h"
#include "probe/checks/second_opinion_check.h"
#include "probe/checks/ssh_check.h"
#include "probe/checks/tcp_connect_check.h"
#include "probe/checks/tcp_path_check.h"

namespace parallax::probe {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':';
}

bool Usable6(const boost::asio::ip::address& a, bool has_ipv6) {
  return has_ipv6 || a.is_loopback();
}

// This host has an IPv6 address other than loopback and link-local.
bool HostHasIpv6() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET6) continue;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
    found = !IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) && !IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr);
  }
  freeifaddrs(list);
  return found;
}

}  // namespace

std::vector<boost::asio::ip::address> SelectAddresses(const DnsAnswer& a,
                                                      v1::AddressSelection selection,
                                                      bool has_ipv6) {
  std::vector<boost::asio::ip::address> out;
  switch (selection) {
    case v1::ADDRESSES_ALL:
      for (const auto& x : a.v4) out.push_back(x);
      for (const auto& x : a.v6) {
        if (Usable6(x, has_ipv6)) out.push_back(x);
      }
      if (out.size() > 8) out.resize(8);
      break;
    case v1::ADDRESSES_IPV4:
      if (!a.v4.empty()) out.push_back(a.v4.front());
      break;
    case v1::ADDRESSES_IPV6:
      if (!a.v6.empty()) out.push_back(a.v6.front());
      break;
    default:
      if (!a.v4.empty()) out.push_back(a.v4.front());
      if (!a.v6.empty() && (out.empty() || Usable6(a.v6.front(), has_ipv6))) {
        out.push_back(a.v6.front());
      }
      break;
  }
  return out;
}

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
  if (t.alt_ports_size() > kMaxAltPorts) {
    return Status::InvalidArgument(at + std::to_string(t.alt_ports_size()) +
                                   " alt_ports, at most " + std::to_string(kMaxAltPorts));
  }
  for (uint32_t p : t.alt_ports()) {
    if (p == 0 || p > 65535) {
      return Status::InvalidArgument(at + "alt port " + std::to_string(p) + " is not in 1..65535");
    }
  }
  if (t.path_max_hops() > 64) {
    return Status::InvalidArgument(at + "path_max_hops " + std::to_string(t.path_max_hops()) +
                                   " is not in 0..64");
  }
  if (t.closed_port() > 65535) {
    return Status::InvalidArgument(at + "closed_port " + std::to_string(t.closed_port()) +
                                   " is not in 0..65535");
  }
  return Status::Ok();
}

bool WantsLiveness(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_TIMEOUT || outcome == v1::OUTCOME_HOST_UNREACHABLE ||
         outcome == v1::OUTCOME_NETWORK_UNREACHABLE;
}

std::shared_ptr<CheckRun> CheckRun::Create(boost::asio::io_context& io, v1::Target target,
                                           std::string identification, IcmpBudget* icmp_budget,
                                           RunMemory* memory) {
  return Create(io, std::make_shared<const v1::Target>(std::move(target)),
                std::move(identification), icmp_budget, memory);
}

std::shared_ptr<CheckRun> CheckRun::Create(boost::asio::io_context& io,
                                           std::shared_ptr<const v1::Target> target,
                                           std::string identification, IcmpBudget* icmp_budget,
                                           RunMemory* memory) {
  return std::shared_ptr<CheckRun>(
      new CheckRun(io, std::move(target), std::move(identification), icmp_budget, memory));
}

CheckRun::CheckRun(boost::asio::io_context& io, std::shared_ptr<const v1::Target> target,
                   std::string identification, IcmpBudget* icmp_budget, RunMemory* memory)
    : io_(io),
      target_ptr_(std::move(target)),
      target_(*target_ptr_),
      identification_(std::move(identification)),
      midpoint_(io),
      icmp_budget_(icmp_budget),
      memory_(memory) {}

void CheckRun::Start(Done done) {
  done_ = std::move(done);
  std::chrono::milliseconds timeout(target_.timeout_ms());
  deadline_ = Clock::now() + timeout;
  started_unix_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  midpoint_.expires_after(timeout / 2);
  const std::string& host = target_.host();
  if (memory_ == nullptr || !memory_->resolver || host.empty() || ParseIpLiteral(host)) {
    StartSsh(host);
    return;
  }
  resolving_ = true;
  dns_.set_resolved(true);
  in_addr v4{};
  if (inet_aton(host.c_str(), &v4) != 0) {
    // A numeric form getaddrinfo accepts but no literal ("127.1"): resolved
    // locally, as the system resolver would, then judged like any name.
    DnsAnswer a;
    a.v4.push_back(boost::asio::ip::address_v4(ntohl(v4.s_addr)));
    a.v6_error = "no record of this type";
    boost::asio::post(io_, [self = shared_from_this(), a = std::move(a)]() mutable {
      self->OnResolved(std::move(a));
    });
    return;
  }
  memory_->resolver->Resolve(host, timeout, [self = shared_from_this()](DnsAnswer&& a) {
    self->OnResolved(std::move(a));
  });
}

void CheckRun::OnResolved(DnsAnswer&& a) {
  if (!resolving_) return;  // cancelled meanwhile
  resolving_ = false;
  for (const auto& x : a.v4) dns_.add_dns_a(x.to_string());
  for (const auto& x : a.v6) dns_.add_dns_aaaa(x.to_string());
  dns_.set_dns_a_error(a.v4_error);
  dns_.set_dns_aaaa_error(a.v6_error);
  dns_.set_dns_us(a.elapsed_us);
  auto now = Clock::now();
  if (memory_->ipv6_read == Clock::time_point{} ||
      now - memory_->ipv6_read > std::chrono::seconds(30)) {
    memory_->has_ipv6 = HostHasIpv6();
    memory_->ipv6_read = now;
  }
  std::vector<boost::asio::ip::address> addresses =
      SelectAddresses(a, target_.addresses(), memory_->has_ipv6);
  const std::string at = "resolve " + target_.host() + ": ";
  if (addresses.empty()) {
    std::string why;
    if (target_.addresses() == v1::ADDRESSES_IPV4) {
      why = "no IPv4 address (A: " + (a.v4_error.empty() ? "none" : a.v4_error) +
            "; addresses: ipv4)";
    } else if (target_.addresses() == v1::ADDRESSES_IPV6) {
      why = "no IPv6 address (AAAA: " + (a.v6_error.empty() ? "none" : a.v6_error) +
            "; addresses: ipv6)";
    } else {
      why = "no address (A: " + (a.v4_error.empty() ? "none" : a.v4_error) +
            "; AAAA: " + (a.v6_error.empty() ? "none" : a.v6_error) + ")";
    }
    result_.set_outcome(v1::OUTCOME_DNS_ERROR);
    result_.set_detail(at + why);
    ssh_done_ = true;
    Finish();
    return;
  }
  if (memory_->address_policy) {
    std::string why = memory_->address_policy(addresses.front().to_string());
    if (!why.empty()) {
      // The probe's own policy, never the target's fault: no packet is sent.
      result_.set_outcome(v1::OUTCOME_PROBE_ERROR);
      result_.set_detail(at + addresses.front().to_string() +
                         " refused by this probe's target policy: " + why);
      ssh_done_ = true;
      Finish();
      return;
    }
  }
  for (size_t i = 1; i < addresses.size(); ++i) {
    if (memory_->address_policy && !memory_->address_policy(addresses[i].to_string()).empty()) {
      continue;  // refused: not checked, not reported
    }
    others_.push_back(
        SshCheck::Create(io_, {addresses[i].to_string(), static_cast<uint16_t>(target_.port()),
                               identification_, 0, Receiver()}));
  }
  StartSsh(addresses.front().to_string());
  for (auto& c : others_) StartPart(c);
}

void CheckRun::StartSsh(const std::string& host) {
  std::chrono::milliseconds timeout(target_.timeout_ms());
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
  left = std::clamp(left, std::chrono::milliseconds(1), timeout);
  SshCheckOptions options{host,
                          static_cast<uint16_t>(target_.port()),
                          identification_,
                          0,
                          Receiver(),
                          memory_ != nullptr ? memory_->address_policy : nullptr};
  if (target_.hostkey_interval_ms() > 0 && memory_ != nullptr) {
    auto now = Clock::now();
    auto [it, added] = memory_->hostkeys.try_emplace(target_.name());
    if (added && memory_->PruneDue(now, &memory_->hostkeys_pruned)) {
      std::erase_if(memory_->hostkeys, [&](const auto& entry) {
        return entry.first != target_.name() && now - entry.second.seen > std::chrono::hours(1);
      });
    }
    it->second.seen = now;
    options.hostkey =
        !it->second.attempted ||
        now - it->second.at >= std::chrono::milliseconds(target_.hostkey_interval_ms());
    options.hostkey_known_identification = it->second.identification;
  }
  auto ssh = SshCheck::Create(io_, std::move(options));
  ssh_ = ssh;
  StartWithDeadline(io_, ssh, left, [self = shared_from_this()] { self->OnSshDone(); });
  midpoint_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->ssh_done_ || self->cancelled_ || !self->ssh_) return;
    auto* ssh = static_cast<SshCheck*>(self->ssh_.get());
    if (ssh->connecting() && ssh->address()) self->StartLiveness(*ssh->address());
  });
}

void CheckRun::Cancel() {
  cancelled_ = true;
  if (resolving_) {
    resolving_ = false;
    result_.set_outcome(v1::OUTCOME_DNS_ERROR);
    result_.set_detail("resolve " + target_.host() + ": cancelled");
    ssh_done_ = true;
    boost::asio::post(io_, [self = shared_from_this()] { self->Finish(); });
    return;
  }
  midpoint_.cancel();
  if (ssh_) ssh_->Cancel();
  for (auto& c : running_) c->Cancel();
}

std::chrono::milliseconds CheckRun::Remaining() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
  std::chrono::milliseconds floor =
      std::min(std::chrono::milliseconds(target_.timeout_ms() / 4), std::chrono::milliseconds(500));
  return std::max(left, floor);
}

void CheckRun::StartPart(std::shared_ptr<Check> check) {
  ++pending_;
  running_.push_back(check);
  StartWithDeadline(io_, check, Remaining(), [self = shared_from_this()] { self->OnPartDone(); });
}

void CheckRun::StartLiveness(const boost::asio::ip::address& address) {
  if (liveness_started_) return;
  liveness_started_ = true;
  std::shared_ptr<IcmpReceiver> receiver = Receiver();
  bool shared = receiver && receiver->shared(address.is_v6() && !address.to_v6().is_v4_mapped());
  if (shared) {
    icmp_ = IcmpEchoCheck::Create(io_, address, IcmpSocketKind::kAuto, receiver);
  } else if (icmp_budget_ == nullptr || icmp_budget_->in_flight < icmp_budget_->max) {
    icmp_ = IcmpEchoCheck::Create(io_, address);
    if (icmp_budget_ != nullptr) {
      ++icmp_budget_->in_flight;
      icmp_counted_ = true;
    }
  }
  std::set<uint32_t> seen;
  for (uint32_t p : target_.liveness_ports()) {
    if (!seen.insert(p).second) continue;
    ports_.push_back(TcpConnectCheck::Create(
        io_, boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(p)), receiver));
  }
  if (target_.closed_port() != 0) {
    closed_port_ = TcpConnectCheck::Create(
        io_, boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(target_.closed_port())),
        receiver);
  }
  if (icmp_) StartPart(icmp_);
  for (auto& p : ports_) StartPart(p);
  if (closed_port_) StartPart(closed_port_);
  if (target_.path_max_hops() > 0 && memory_ != nullptr) {
    auto now = Clock::now();
    auto it = memory_->paths.find(target_.name());
    if (it == memory_->paths.end() || now - it->second >= memory_->path_every) {
      if (memory_->PruneDue(now, &memory_->paths_pruned)) {
        std::erase_if(memory_->paths,
                      [&](const auto& entry) { return now - entry.second >= memory_->path_every; });
      }
      memory_->paths[target_.name()] = now;
      TcpPathOptions o;
      o.endpoint = boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(target_.port()));
      o.max_hops = std::min<uint32_t>(target_.path_max_hops(), 64);
      std::chrono::milliseconds budget(target_.path_budget_ms() > 0 ? target_.path_budget_ms()
                                                                    : 3000);
      o.hop_wait =
          std::clamp(budget / 10, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
      o.icmp_receiver = receiver;
      path_ = TcpPathCheck::Create(io_, o);
      ++pending_;
      running_.push_back(path_);
      StartWithDeadline(io_, path_, budget, [self = shared_from_this()] { self->OnPartDone(); });
    }
  }
}

void CheckRun::StartAltPorts(const boost::asio::ip::address& address) {
  std::set<uint32_t> seen;
  for (uint32_t p : target_.alt_ports()) {
    if (p == target_.port() || !seen.insert(p).second) continue;
    auto check = SshCheck::Create(
        io_, {address.to_string(), static_cast<uint16_t>(p), identification_, 0, Receiver()});
    alt_.push_back(check);
  }
  for (auto& c : alt_) StartPart(c);
}

void CheckRun::StartSecondOpinion(const boost::asio::ip::address& address) {
  if (memory_ != nullptr) {
    auto now = Clock::now();
    if (memory_->PruneDue(now, &memory_->second_opinions_pruned)) {
      std::erase_if(memory_->second_opinions, [&](const auto& entry) {
        return now - entry.second.at >= memory_->second_opinion_every;
      });
    }
    auto it = memory_->second_opinions.find(target_.name());
    if (it != memory_->second_opinions.end() &&
        now - it->second.at < memory_->second_opinion_every) {
      v1::SecondOpinion* o = result_.mutable_liveness()->mutable_second_opinion();
      *o = it->second.opinion;
      o->set_reused(true);
      return;
    }
  }
  std::chrono::milliseconds remaining = Remaining();
  second_opinion_ = SecondOpinionCheck::Create(
      io_, boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(target_.port())),
      target_.host(), remaining / 2);
  StartPart(second_opinion_);
}

void CheckRun::OnSshDone() {
  ssh_done_ = true;
  midpoint_.cancel();
  auto* ssh = static_cast<SshCheck*>(ssh_.get());
  result_ = std::move(*ssh->mutable_result());
  if (target_.hostkey_interval_ms() > 0 && memory_ != nullptr) {
    auto it = memory_->hostkeys.find(target_.name());
    if (it != memory_->hostkeys.end()) {
      if (result_.has_host_key()) {
        it->second.attempted = true;
        it->second.at = Clock::now();
      }
      if (!result_.identification().empty()) it->second.identification = result_.identification();
    }
  }
  bool resolved = ssh->address().has_value();
  boost::asio::ip::address address;
  if (resolved) address = *ssh->address();
  bool received_nothing = ssh->received_nothing();
  ssh_.reset();
  if (cancelled_ || !resolved) {
    for (auto& c : running_) c->Cancel();
    if (pending_ == 0) Finish();
    return;
  }
  v1::Outcome o = result_.outcome();
  if (WantsLiveness(o)) {
    StartLiveness(address);
  } else if (liveness_started_) {
    // SSH answered after all (or failed otherwise): the liveness is moot.
    for (auto& c : running_) c->Cancel();
  }
  if (o == v1::OUTCOME_REFUSED) StartAltPorts(address);
  if ((o == v1::OUTCOME_CLOSED || o == v1::OUTCOME_RESET) && received_nothing) {
    StartSecondOpinion(address);
  }
  if (pending_ == 0) Finish();
}

void CheckRun::OnPartDone() {
  --pending_;
  if (ssh_done_ && pending_ == 0) Finish();
}

void CheckRun::Finish() {
  if (finished_) return;
  finished_ = true;
  if (icmp_counted_) --icmp_budget_->in_flight;
  if (!cancelled_ && WantsLiveness(result_.outcome()) && liveness_started_) {
    v1::Liveness* l = result_.mutable_liveness();
    if (icmp_) {
      static_cast<IcmpEchoCheck*>(icmp_.get())->FillLiveness(l);
    } else {
      l->set_icmp_error("skipped: " + std::to_string(icmp_budget_->max) +
                        " pings already in flight");
    }
    for (const auto& p : ports_) *l->add_ports() = static_cast<TcpConnectCheck*>(p.get())->result();
    if (closed_port_) {
      *l->mutable_closed_port() = static_cast<TcpConnectCheck*>(closed_port_.get())->result();
    }
    if (path_) *l->mutable_path() = static_cast<TcpPathCheck*>(path_.get())->result();
  }
  if (!alt_.empty() && !cancelled_) {
    v1::Liveness* l = result_.mutable_liveness();
    for (const auto& c : alt_) {
      const v1::CheckResult& r = static_cast<SshCheck*>(c.get())->result();
      v1::AltPortProbe* a = l->add_alt_ports();
      uint32_t port = target_.port();
      size_t colon = r.address().rfind(':');
      if (colon != std::string::npos) port = std::stoul(r.address().substr(colon + 1));
      a->set_port(port);
      a->set_outcome(r.outcome());
      a->set_identification(r.identification());
      a->set_detail(r.detail());
      if (r.outcome() == v1::OUTCOME_OK && l->ssh_answered_on_port() == 0) {
        l->set_ssh_answered_on_port(port);
        result_.set_detail(result_.detail() + "; an SSH server answers on port " +
                           std::to_string(port) + " (\"" + r.identification() + "\")");
      }
    }
  }
  if (second_opinion_ && !cancelled_) {
    const auto& so = static_cast<SecondOpinionCheck*>(second_opinion_.get())->result();
    v1::SecondOpinion* o = result_.mutable_liveness()->mutable_second_opinion();
    o->set_speaks(so.what == SecondOpinionCheck::What::kTls    ? "tls"
                  : so.what == SecondOpinionCheck::What::kHttp ? "http"
                                                               : "");
    o->set_detail(so.detail);
    o->set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
    if (memory_ != nullptr) memory_->second_opinions[target_.name()] = {*o, Clock::now()};
  }
  if (result_.has_liveness() && result_.liveness().has_second_opinion()) {
    const v1::SecondOpinion& o = result_.liveness().second_opinion();
    if (!o.speaks().empty()) {
      std::string before = result_.outcome() == v1::OUTCOME_RESET ? "reset" : "closed";
      result_.set_outcome(v1::OUTCOME_NOT_SSH);
      result_.set_detail(o.detail() + "; it " + before +
                         " the SSH connection before sending any line" +
                         (o.reused() ? " (second opinion reused from an earlier check)" : ""));
      result_.set_error_number(0);
    }
  }
  result_.set_started_unix_ms(started_unix_ms_);  // the lookup's start, for a name
  if (dns_.resolved()) {
    result_.set_resolved(true);
    *result_.mutable_dns_a() = dns_.dns_a();
    *result_.mutable_dns_aaaa() = dns_.dns_aaaa();
    result_.set_dns_a_error(dns_.dns_a_error());
    result_.set_dns_aaaa_error(dns_.dns_aaaa_error());
    result_.set_dns_us(dns_.dns_us());
  }
  for (const auto& c : others_) {
    const v1::CheckResult& r = static_cast<SshCheck*>(c.get())->result();
    v1::AddressOutcome* o = result_.add_other_addresses();
    o->set_address(r.address());
    o->set_outcome(r.outcome());
    o->set_connect_us(r.connect_us());
    o->set_identification(r.identification());
    o->set_detail(r.detail());
  }
  running_.clear();
  Done done = std::move(done_);
  done(std::move(result_));
}

}  // namespace parallax::probe
