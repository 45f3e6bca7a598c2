// Scheduler: runs the SSH check of every assigned target once per interval on
// one boost::asio::io_context (no thread per check).
//
//  - Each target's checks are offset within its interval by a stable jitter
//    (hash of probe name and target name), so checks do not burst.
//  - At most `max_in_flight` checks run at once; due checks wait in order and
//    their lateness is reported in CheckResult.late_us.
//  - The scheduler owns each check's deadline (the target's timeout) and timing.
//  - SetAssignment() replaces the target set: unchanged targets keep their
//    phase, removed targets stop (a check in flight finishes and is reported).
//    A target is unchanged when name, host, port and interval are equal (a new
//    timeout, labels or liveness ports apply from its next run). Invalid
//    targets are skipped with a warning naming the field and value (counted
//    in stats().targets_rejected).
//  - One check per target at a time: the next run is the next slot of the
//    target's phase after the previous run finished; slots missed meanwhile
//    (a timeout longer than the interval, a long wait for a slot) are skipped
//    and counted, never run in a burst.
//  - When the SSH check fails with timeout / host_unreachable /
//    network_unreachable, liveness evidence (ICMP echo, TCP connects to the
//    target's liveness_ports) is gathered before the result is reported,
//    which can add up to one timeout to that result (see check_run.h).
//  - A check that fails on the probe's side for lack of a local resource
//    (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL: outcome probe_error)
//    pauses the start of new checks for `resource_pause` (checks in flight
//    go on; due checks wait, then run late), logged and counted in stats().
//  - An overloaded probe (checks start late: more are due than its CPU,
//    max_in_flight or descriptors let it run) shows in stats().recent_late_us
//    (the most a check started late in the last 10 s, or how long the oldest
//    due check has waited) and, when a check starts 1 s late or more, in a
//    warning logged at most once a minute.
//  - Stop() cancels the checks in flight and drops their results (a deadline
//    caused by shutting down is no observation); nothing runs afterwards.
//  - An empty or malformed identification is replaced by
//    "SSH-2.0-parallax_probe_<version>".
//
// Seams (tests): SchedulerSeams swaps the clock and timer (scheduler_clock.h:
// a SimulatedClock makes time move only when a test says so) and how one
// check runs (a fake instead of a CheckRun). The defaults are the real ones.
//
// Thread-safety: every method must be called on the io_context's thread (post
// to it). The sink runs on that thread too; it assigns `seq`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/scheduler/scheduler_clock.h"

namespace parallax::probe {

struct SchedulerOptions {
  std::string probe_name;      // seeds the jitter
  std::string identification;  // sent to servers: "SSH-2.0-parallax_probe_<version>"
  size_t max_in_flight = 4096;
  // ICMP evidence goes through one shared raw ICMP socket per address family
  // (probe/checks/icmp_receiver.h), opened with the first real check; pings
  // through it are not capped. Without CAP_NET_RAW each ping falls back to a
  // ping socket of its own, and at most this many of those are open at once;
  // beyond that a run skips its ping (ports are still checked).
  size_t max_icmp_in_flight = 256;
  // False: no shared receiver, every ping and connect uses its own socket as
  // without CAP_NET_RAW (tests of that fallback).
  bool shared_icmp = true;
  // Why a DNS name's resolved address may not be checked ("" if it may): the
  // probe's own target policy (probe/policy/policy_gate.h), applied after
  // every resolution so a name cannot lead the probe where an address
  // literal could not. Empty: no check.
  std::function<std::string(const std::string& address)> address_policy;
  // Targets given by name are resolved by one c-ares resolver on the
  // io_context (probe/checks/dns_resolver.h) with these servers ("" : the
  // system's resolv.conf). False: Asio's getaddrinfo per check (a stuck
  // lookup there holds up every later one).
  bool async_dns = true;
  std::string dns_servers;
  // How long new checks pause when the probe runs out of descriptors/buffers.
  std::chrono::milliseconds resource_pause{1000};
};

struct SchedulerStats {
  uint64_t checks_started = 0;
  uint64_t checks_done = 0;
  uint32_t in_flight = 0;
  uint32_t waiting = 0;      // due, held back by max_in_flight
  uint64_t max_late_us = 0;  // since start
  // The most a check started late in the last 10 s (5 to 10 s of history),
  // or how long the oldest due check has waited, whichever is more.
  uint64_t recent_late_us = 0;
  uint64_t late_starts = 0;  // checks started 1 s or more after their time
  size_t targets = 0;
  uint64_t runs_skipped = 0;      // slots missed because the target's previous run was busy
  uint64_t targets_rejected = 0;  // invalid targets skipped by SetAssignment (all calls)
  uint64_t generation = 0;        // of the last assignment
  uint64_t probe_errors = 0;      // results with outcome probe_error
  uint64_t pauses = 0;            // times new checks were paused (resource exhaustion)
  bool paused = false;            // new checks are paused now
};

struct SchedulerSeams {
  // The clock and timer; null: a SteadyClock on the io_context. Not owned;
  // must outlive the scheduler.
  SchedulerClock* clock = nullptr;
  // Starts one check of `target` and returns what cancels it; `done` runs
  // exactly once, on the io_context thread (it may run inside `run_check`).
  // Null: a CheckRun (check_run.h) with the scheduler's identification and
  // ICMP budget.
  using Done = std::function<void(v1::CheckResult&& result)>;
  std::function<std::function<void()>(const v1::Target& target, Done done)> run_check;
};

class Scheduler {
 public:
  using Sink = std::function<void(v1::CheckResult&& result)>;

  Scheduler(boost::asio::io_context& io, SchedulerOptions options, Sink sink,
            SchedulerSeams seams = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void SetAssignment(const v1::Assignment& assignment);
  // Runs one check of `target` now (an ad-hoc check, `parallax check`):
  // outside the assignment and the schedule, not held back by max_in_flight
  // or a pause (the collector caps ad-hoc checks), with the same evidence as
  // a scheduled run. The result goes to the sink with adhoc_id = `id`,
  // generation 0 and late_us 0; an invalid target gives a probe_error result
  // naming the field at once. Cancelled by Stop() like the others.
  void RunAdHoc(const v1::Target& target, const std::string& id);
  // Stops scheduling; checks in flight are cancelled.
  void Stop();
  SchedulerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parallax::probe
