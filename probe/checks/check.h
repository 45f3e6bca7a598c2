// Check: one probe of one thing (an SSH banner, a TCP port, an ICMP echo).
//
// A check speaks only its protocol. Whoever runs it (the scheduler) owns the
// deadline and calls Cancel() when it passes: the check then reports the
// outcome its current phase implies (still resolving -> dns_error "resolve
// timed out", connecting -> timeout, waiting for the banner ->
// banner_timeout, waiting for an echo reply -> "timeout").
//
// Each implementation exposes its typed result (e.g. SshCheck::result()),
// valid once `done` has run. Implementations derive from
// std::enable_shared_from_this and are created as shared_ptr, so pending
// handlers keep them alive.
//
// Thread-safety: Start() and Cancel() must be called on the io_context's
// thread; `done` runs on it too, exactly once, never from inside Start() or
// Cancel() (it is always dispatched through the io_context).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

namespace parallax::probe {

class Check {
 public:
  using Done = std::function<void()>;

  virtual ~Check() = default;
  // Starts the check; call at most once.
  virtual void Start(Done done) = 0;
  // Ends the check now with its phase's deadline outcome. No-op once done.
  virtual void Cancel() = 0;
};

// Starts `check` and Cancel()s it if `done` has not run after `timeout`.
// `done` runs exactly once, on the io_context's thread.
void StartWithDeadline(boost::asio::io_context& io, std::shared_ptr<Check> check,
                       std::chrono::milliseconds timeout, Check::Done done);

}  // namespace parallax::probe
