// DnsResolver: asynchronous A and AAAA lookups on an Asio io_context, with
// c-ares, so a name that never gets an answer cannot hold up any other
// lookup or check (Asio's own resolver runs getaddrinfo on one background
// thread: one stuck name there turned every later name into dns_error).
//
//  - One c-ares channel per resolver; its sockets are watched by Asio
//    descriptors on the io_context (no thread, no blocking call), its retry
//    timer is an Asio timer.
//  - Resolve() asks for A and AAAA at once (two queries) and reports both,
//    each with its own error ("" when the family answered), at most
//    kMaxAnswersPerFamily addresses per family, in the order the server gave
//    them (no RFC 6724 sorting).
//  - Every lookup has its own deadline: when it passes, the families still
//    pending get the error "timed out after N ms" and `done` runs; c-ares
//    keeps the orphaned query until its own timeout (timeout x tries), whose
//    answer is then dropped. Memory is bounded by those timeouts.
//  - Servers: the system's (/etc/resolv.conf, /etc/hosts as c-ares reads
//    them) unless `servers` names others ("127.0.0.1:5353,[::1]:53"), e.g.
//    from the probe's --dns-server flag or the PARALLAX_DNS_SERVER
//    environment variable (tests point it at a loopback DNS server).
//
// Thread-safety: io_context thread only (create, Resolve, destroy). `done`
// runs on that thread, exactly once, never inside Resolve(). Destroying the
// resolver drops the callbacks of lookups still pending (they never run).
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

namespace parallax::probe {

constexpr size_t kMaxAnswersPerFamily = 16;

struct DnsAnswer {
  std::vector<boost::asio::ip::address> v4, v6;  // in the server's order, each <= 16
  std::string v4_error, v6_error;  // "" when that family answered (possibly with no address)
  bool timed_out = false;          // the lookup's deadline passed with a family pending
  uint32_t elapsed_us = 0;
};

struct DnsResolverOptions {
  // "ip[:port],..." ("[v6]:port" for a port with IPv6); empty: the system's.
  std::string servers;
  // c-ares' own per-try timeout and tries (each lookup's deadline is separate).
  std::chrono::milliseconds try_timeout{2000};
  int tries = 2;
};

// The servers the probe uses by default: --dns-server, else the environment
// variable PARALLAX_DNS_SERVER, else "" (the system's).
std::string DefaultDnsServers(const std::string& flag);

class DnsResolver {
 public:
  using Done = std::function<void(DnsAnswer&& answer)>;

  // InvalidArgument for a malformed `servers`, Internal if c-ares cannot start.
  static Status Create(boost::asio::io_context& io, DnsResolverOptions options,
                       std::shared_ptr<DnsResolver>* out);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  void Resolve(const std::string& name, std::chrono::milliseconds deadline, Done done);
  // Lookups whose `done` has not run yet.
  size_t pending() const;

 private:
  struct Impl;
  explicit DnsResolver(boost::asio::io_context& io);
  boost::asio::io_context& io_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace parallax::probe
