// SchedulerClock: the scheduler's time source and its one timer, as a seam.
// The probe uses SteadyClock (std::chrono::steady_clock and a
// boost::asio::steady_timer on the io_context). Tests use SimulatedClock:
// time stands still until the test advances it, and the timers due on the
// way fire at their due times, in order (Envoy-style simulated time), so the
// scheduler's tests do not sleep.
//
// Thread-safety: io_context thread only (like the scheduler).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

namespace parallax::probe {

class SchedulerClock {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~SchedulerClock() = default;
  virtual Clock::time_point Now() const = 0;
  // Calls `fire` on the io_context thread once Now() >= due; replaces a
  // pending wait (whose `fire` is then never called).
  virtual void WaitUntil(Clock::time_point due, std::function<void()> fire) = 0;
  // Drops the pending wait, if any.
  virtual void Cancel() = 0;
};

class SteadyClock : public SchedulerClock {
 public:
  explicit SteadyClock(boost::asio::io_context& io) : timer_(io) {}
  Clock::time_point Now() const override { return Clock::now(); }
  void WaitUntil(Clock::time_point due, std::function<void()> fire) override;
  void Cancel() override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

class SimulatedClock : public SchedulerClock {
 public:
  // Starts at an arbitrary fixed time point (not the real clock's).
  explicit SimulatedClock(boost::asio::io_context& io) : io_(io) {}

  Clock::time_point Now() const override { return now_; }
  void WaitUntil(Clock::time_point due, std::function<void()> fire) override;
  void Cancel() override;

  // Runs `fn` when simulated time reaches `due` (for a test's fake checks).
  void At(Clock::time_point due, std::function<void()> fn);
  // Moves time forward by `d`. Every timer due on the way fires with Now()
  // at its due time, in due order (ties: first set, first fired), and the
  // io_context's ready handlers run after each (io_context::poll).
  void Advance(Clock::duration d);
  // Runs the io_context's ready handlers without moving time.
  void Poll();

 private:
  boost::asio::io_context& io_;
  Clock::time_point now_ = Clock::time_point(std::chrono::hours(24));
  std::multimap<Clock::time_point, std::pair<uint64_t, std::function<void()>>> timers_;
  uint64_t next_id_ = 1;
  uint64_t wait_id_ = 0;  // the scheduler's pending wait, 0 if none
};

}  // namespace parallax::probe
