// ScheduleQueue: the scheduler's one timeline, a min-heap of (due time, key)
// so one timer serves any number of targets (10,000 targets cost 10,000
// heap entries, not 10,000 timers). Keys are the scheduler's target ids;
// entries of removed targets are skipped by the caller when popped.
//
// Also the schedule arithmetic: the stable jitter offset and the next slot of
// a target's phase.
//
// Thread-compatible (the scheduler uses it on its io thread only).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

namespace parallax::probe {

class ScheduleQueue {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point due;
    uint64_t key = 0;
  };

  void Push(Clock::time_point due, uint64_t key);
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // The earliest entry; among equal due times, the one pushed first.
  // Requires !empty().
  const Entry& top() const { return heap_.front().entry; }
  Entry Pop();
  void Clear() { heap_.clear(); }

 private:
  struct Item {
    Entry entry;
    uint64_t order;  // push order: ties run first-in first-out
  };
  static bool Later(const Item& a, const Item& b);

  std::vector<Item> heap_;
  uint64_t pushes_ = 0;
};

// The stable offset of a target's first run within its interval:
// FNV-1a(probe_name, target_name) % interval. The same probe and target get
// the same offset across restarts; different targets spread out.
std::chrono::milliseconds JitterOffset(std::string_view probe_name, std::string_view target_name,
                                       std::chrono::milliseconds interval);

// The first slot origin + k*interval (k >= 0) strictly after `after`.
// Requires interval > 0.
ScheduleQueue::Clock::time_point NextSlot(ScheduleQueue::Clock::time_point origin,
                                          std::chrono::milliseconds interval,
                                          ScheduleQueue::Clock::time_point after);

}  // namespace parallax::probe
