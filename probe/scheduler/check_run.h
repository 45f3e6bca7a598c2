// CheckRun: one scheduled check of one target, end to end, inside the
// target's timeout T (the check deadline).
//
//  - A target given by name is resolved first by the probe's own resolver
//    (RunMemory::resolver, c-ares: never blocks the io thread; the lookup's
//    deadline is T): every A and AAAA answer and each family's error go in
//    the result (resolved, dns_a, dns_aaaa, dns_a_error, dns_aaaa_error,
//    dns_us). The addresses checked follow Target.addresses (first of each
//    family by default, IPv6 only when this host has IPv6 of its own or the
//    address is loopback); each passes the probe's address policy first. The
//    first one checked is the result's `address`/outcome, with the evidence
//    below; the others get a plain SSH check each, concurrently, reported in
//    other_addresses. No address to check: dns_error naming each family's
//    error. Without a resolver the SshCheck resolves (Asio's getaddrinfo).
//  - Runs the SshCheck with deadline T (what is left of it after the lookup).
//  - Liveness (item "liveness by default"): if the SSH connect has had no
//    answer after T/2, or fails host/network unreachable earlier, it starts,
//    concurrently, until the same deadline: one ICMP echo, one TCP connect to
//    each of the target's liveness_ports, and one TCP connect to its
//    closed_port (a port nothing should listen on: a reset proves the host
//    itself is up and answering). When SSH then succeeds or fails otherwise,
//    they are cancelled and not reported. Reported when the outcome is
//    timeout, host_unreachable or network_unreachable.
//  - With the liveness, when target.path_max_hops > 0 and RunMemory allows
//    (once per target per path_every, default 5 minutes): a TcpPathCheck to
//    the SSH port (liveness.path), with its own budget path_budget_ms
//    (default 3000) from when it starts; such a result may arrive up to that
//    budget after T/2. Without RunMemory, no path is traced.
//  - Refused: each of the target's alt_ports is tried for an SSH
//    identification, concurrently, until the deadline (liveness.alt_ports,
//    liveness.ssh_answered_on_port, and the detail names the port).
//  - Closed or reset before a single byte: a SecondOpinionCheck (TLS
//    ClientHello, then HTTP HEAD) until the deadline, at most once per
//    target per RunMemory::second_opinion_every; in between the last
//    conclusion is reused (marked reused). "tls"/"http" turn the outcome into
//    not_ssh ("speaks TLS" / "speaks HTTP").
//  - Host key: when target.hostkey_interval_ms > 0 and RunMemory is given,
//    the SshCheck runs the key exchange (result.host_key) at most once per
//    target per that interval, and also whenever the identification line
//    differs from the one this probe saw last for the target. An attempt
//    that failed counts too (it is retried after the interval).
// Work that starts after the SSH check ended gets at least min(T/4, 500 ms),
// so a result arrives at most that much after the deadline.
//
// The result has everything but seq, target, generation and late_us (the
// scheduler fills those).
//
// Thread-safety: io_context thread only; `done` runs there exactly once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first
#include <vector>

#include "common/status.h"
#include "parallax/v1/probe.pb.h"
#include "probe/checks/check.h"
#include "probe/checks/dns_resolver.h"
#include "probe/checks/icmp_receiver.h"

namespace parallax::probe {

// At most this many liveness ports are probed per target.
constexpr int kMaxLivenessPorts = 16;
// At most this many alternative SSH ports are tried per target.
constexpr int kMaxAltPorts = 8;
// Targets run at most this often.
constexpr uint32_t kMinIntervalMs = 100;

// Whether the scheduler can run `target`; the error names the target, the
// field and the value, e.g. `target "web1": port 0 is not in 1..65535`.
Status ValidateTarget(const v1::Target& target);

// True for the outcomes that trigger liveness evidence.
bool WantsLiveness(v1::Outcome outcome);

// ICMP resources shared by the runs of one scheduler (io_context thread
// only): the probe's shared ICMP receiver (null: none; per-check sockets and
// IP_RECVERR) and, for pings that fall back to a socket of their own, how
// many are in flight and the cap.
struct IcmpBudget {
  std::shared_ptr<IcmpReceiver> receiver;
  size_t in_flight = 0;
  size_t max = 256;
};

// What runs of one scheduler remember across checks (io_context thread only).
// Stale entries are pruned by a walk of the map at most once per
// `prune_every` (never per check: a walk per check is quadratic in the
// targets, and made the first pass over 20,000 targets take 30 s); a
// lookup judges the staleness of the entry it finds itself.
struct RunMemory {
  struct Opinion {
    v1::SecondOpinion opinion;
    std::chrono::steady_clock::time_point at;
  };
  std::chrono::milliseconds second_opinion_every{std::chrono::minutes(5)};
  std::map<std::string, Opinion> second_opinions;  // by target name; stale ones pruned
  std::chrono::milliseconds path_every{std::chrono::minutes(5)};
  std::map<std::string, std::chrono::steady_clock::time_point> paths;  // last trace per target
  struct HostKeyMemory {
    std::chrono::steady_clock::time_point at;  // last key exchange attempt
    bool attempted = false;
    std::string identification;                  // last identification line seen
    std::chrono::steady_clock::time_point seen;  // last check of the target
  };
  std::map<std::string, HostKeyMemory> hostkeys;  // by target name; unseen for 1 h: pruned
  std::chrono::milliseconds prune_every{std::chrono::minutes(1)};
  // When each map was last pruned.
  std::chrono::steady_clock::time_point second_opinions_pruned{};
  std::chrono::steady_clock::time_point paths_pruned{};
  std::chrono::steady_clock::time_point hostkeys_pruned{};
  // True (and `*last` = now) when a map last pruned at `*last` is due again.
  bool PruneDue(std::chrono::steady_clock::time_point now,
                std::chrono::steady_clock::time_point* last) const {
    if (*last != std::chrono::steady_clock::time_point{} && now - *last < prune_every) {
      return false;
    }
    *last = now;
    return true;
  }
  // The probe's target policy for the address a DNS name resolves to
  // (SchedulerOptions::address_policy; empty: every address).
  std::function<std::string(const std::string& address)> address_policy;
  // The probe's DNS resolver (null: each SshCheck resolves with Asio).
  std::shared_ptr<DnsResolver> resolver;
  // Whether this host has an IPv6 address other than loopback / link-local,
  // and when that was read (re-read every 30 s).
  bool has_ipv6 = false;
  std::chrono::steady_clock::time_point ipv6_read{};
};

// The addresses of `answer` a check of `selection` tries, in order (at most 8).
std::vector<boost::asio::ip::address> SelectAddresses(const DnsAnswer& answer,
                                                      v1::AddressSelection selection,
                                                      bool has_ipv6);

class CheckRun : public std::enable_shared_from_this<CheckRun> {
 public:
  using Done = std::function<void(v1::CheckResult&& result)>;

  static std::shared_ptr<CheckRun> Create(boost::asio::io_context& io, v1::Target target,
                                          std::string identification,
                                          IcmpBudget* icmp_budget = nullptr,
                                          RunMemory* memory = nullptr);
  // The same, sharing the scheduler's copy of the target (no copy per check).
  static std::shared_ptr<CheckRun> Create(boost::asio::io_context& io,
                                          std::shared_ptr<const v1::Target> target,
                                          std::string identification, IcmpBudget* icmp_budget,
                                          RunMemory* memory);

  void Start(Done done);
  // Cancels whatever runs now (each check reports its deadline outcome);
  // `done` still runs, once.
  void Cancel();

 private:
  using Clock = std::chrono::steady_clock;
  CheckRun(boost::asio::io_context& io, std::shared_ptr<const v1::Target> target,
           std::string identification, IcmpBudget* icmp_budget, RunMemory* memory);
  void OnResolved(DnsAnswer&& answer);
  // Starts the main SshCheck at `host` (a name only without a resolver).
  void StartSsh(const std::string& host);
  void OnSshDone();
  // The shared ICMP receiver, or null.
  std::shared_ptr<IcmpReceiver> Receiver() const {
    return icmp_budget_ != nullptr ? icmp_budget_->receiver : nullptr;
  }
  // Time left until the deadline, at least min(T/4, 500 ms).
  std::chrono::milliseconds Remaining() const;
  void StartLiveness(const boost::asio::ip::address& address);
  void StartAltPorts(const boost::asio::ip::address& address);
  void StartSecondOpinion(const boost::asio::ip::address& address);
  // Starts `check` until Remaining(); counted in pending_.
  void StartPart(std::shared_ptr<Check> check);
  void OnPartDone();
  void Finish();

  boost::asio::io_context& io_;
  std::shared_ptr<const v1::Target> target_ptr_;  // never null
  const v1::Target& target_;                      // *target_ptr_
  std::string identification_;
  Done done_;
  v1::CheckResult result_;
  std::shared_ptr<Check> ssh_;
  bool resolving_ = false;
  v1::CheckResult dns_;                         // the DNS fields, merged into the result
  std::vector<std::shared_ptr<Check>> others_;  // SshChecks at the other addresses
  Clock::time_point deadline_;
  int64_t started_unix_ms_ = 0;
  boost::asio::steady_timer midpoint_;
  bool ssh_done_ = false;
  bool liveness_started_ = false;
  bool icmp_counted_ = false;
  std::shared_ptr<Check> icmp_;
  std::vector<std::shared_ptr<Check>> ports_;    // TcpConnectChecks, liveness_ports order
  std::shared_ptr<Check> closed_port_;           // TcpConnectCheck or null
  std::vector<std::shared_ptr<Check>> alt_;      // SshChecks, alt_ports order
  std::shared_ptr<Check> second_opinion_;        // SecondOpinionCheck or null
  std::shared_ptr<Check> path_;                  // TcpPathCheck or null
  std::vector<std::shared_ptr<Check>> running_;  // everything started, for Cancel()
  int pending_ = 0;
  bool cancelled_ = false;
  bool finished_ = false;
  IcmpBudget* icmp_budget_;  // may be null: no cap
  RunMemory* memory_;        // may be null: no second-opinion rate limit
};

}  // namespace parallax::probe
