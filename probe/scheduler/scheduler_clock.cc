#include "probe/scheduler/scheduler_clock.h"

namespace parallax::probe {

void SteadyClock::WaitUntil(Clock::time_point due, std::function<void()> fire) {
  timer_.expires_at(due);  // cancels a previous wait
  timer_.async_wait([fire = std::move(fire)](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted) return;
    fire();
  });
}

void SimulatedClock::WaitUntil(Clock::time_point due, std::function<void()> fire) {
  Cancel();
  wait_id_ = next_id_++;
  timers_.emplace(due, std::make_pair(wait_id_, std::move(fire)));
}

void SimulatedClock::Cancel() {
  if (wait_id_ == 0) return;
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == wait_id_) {
      timers_.erase(it);
      break;
    }
  }
  wait_id_ = 0;
}

void SimulatedClock::At(Clock::time_point due, std::function<void()> fn) {
  timers_.emplace(due, std::make_pair(next_id_++, std::move(fn)));
}

void SimulatedClock::Poll() {
  io_.restart();
  io_.poll();
}

void SimulatedClock::Advance(Clock::duration d) {
  const Clock::time_point end = now_ + d;
  Poll();
  while (!timers_.empty() && timers_.begin()->first <= end) {
    auto it = timers_.begin();
    if (it->first > now_) now_ = it->first;
    std::function<void()> fn = std::move(it->second.second);
    if (it->second.first == wait_id_) wait_id_ = 0;
    timers_.erase(it);
    fn();
    Poll();
  }
  now_ = end;
  Poll();
}

}  // namespace parallax::probe
