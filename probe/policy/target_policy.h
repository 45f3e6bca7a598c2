// TargetPolicy: what this probe agrees to check, decided by the probe's own
// flags and never by the collector, so a hijacked or misconfigured collector
// cannot turn the probe into a scanner (docs/OPERATIONS.md, "Security").
//
// Each assigned target is checked in order; a target that breaches the
// policy is refused (with the reason in words) and the rest keep running:
//   - address: by default any address except loopback (127.0.0.0/8, ::1,
//     "localhost"), link-local (169.254.0.0/16 incl. 169.254.169.254 cloud
//     metadata, fe80::/10), multicast, unspecified/broadcast and the probe's
//     own interface addresses. --allow-target CIDR (repeatable) switches to an
//     allow list: only addresses inside one of them (then even loopback
//     inside an allowed CIDR is fine). --allow-loopback allows loopback on
//     top of either rule. A DNS name passes here (its address is not known
//     before the check) and is checked again after every resolution
//     (PolicyGate::ResolvedAddressRefusal, applied by SshCheck): a name that
//     resolves to a refused address, e.g. "127.1" or a name pointing at
//     169.254.169.254, ends its check as probe_error before any packet.
//   - port: any, or within --allow-port ranges when given;
//   - interval at least min_interval (default 1 s);
//   - at most max_targets targets (default 10,000): the rest are refused;
//   - the assignment's new connections per second (sum of 1000/interval_ms
//     over the accepted targets) at most max_connects_per_second (default
//     2,000): targets beyond the budget are refused.
//
// Thread-safe after construction (const methods; own addresses are read
// anew by each Filter call).
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::probe {

struct Cidr {
  int family = AF_INET;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
  int prefix = 0;
  std::string text;
};
// "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" (a /32). Status names the value.
Status ParseCidr(const std::string& text, Cidr* out);

struct PortRange {
  uint16_t lo = 1, hi = 65535;
};
// "22" or "2200-2299".
Status ParsePortRange(const std::string& text, PortRange* out);

struct TargetPolicyOptions {
  std::vector<Cidr> allow;  // empty: every address but the denied classes
  bool allow_loopback = false;
  std::vector<PortRange> ports;  // empty: any port
  std::chrono::milliseconds min_interval{1000};
  size_t max_targets = 10000;
  double max_connects_per_second = 2000;
  // This host's addresses, read at each Filter (tests replace it).
  std::function<std::vector<std::string>()> own_addresses;  // empty: OwnAddresses()
};

class TargetPolicy {
 public:
  explicit TargetPolicy(TargetPolicyOptions options) : options_(std::move(options)) {}

  // Returns the part of `in` this probe agrees to check; appends one refusal
  // per refused target to `refused`.
  v1::Assignment Filter(const v1::Assignment& in, std::vector<v1::PolicyRefusal>* refused) const;
  // Why `host` (an IP address literal or a DNS name) may not be checked, or
  // "" if it may. `own` are this host's interface addresses.
  std::string AddressRefusal(const std::string& host, const std::vector<std::string>& own) const;

  const TargetPolicyOptions& options() const { return options_; }

 private:
  TargetPolicyOptions options_;
};

// The addresses of this host's interfaces, as text ("192.0.2.7", "fe80::1").
std::vector<std::string> OwnAddresses();

}  // namespace parallax::probe
