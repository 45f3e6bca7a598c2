#include "probe/scheduler/schedule_queue.h"

#include <algorithm>

namespace parallax::probe {

bool ScheduleQueue::Later(const Item& a, const Item& b) {
  if (a.entry.due != b.entry.due) return a.entry.due > b.entry.due;
  return a.order > b.order;
}

void ScheduleQueue::Push(Clock::time_point due, uint64_t key) {
  heap_.push_back({{due, key}, pushes_++});
  std::push_heap(heap_.begin(), heap_.end(), Later);
}

ScheduleQueue::Entry ScheduleQueue::Pop() {
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  Entry e = heap_.back().entry;
  heap_.pop_back();
  return e;
}

std::chrono::milliseconds JitterOffset(std::string_view probe_name, std::string_view target_name,
                                       std::chrono::milliseconds interval) {
  if (interval.count() <= 0) return std::chrono::milliseconds(0);
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(probe_name);
  mix(std::string_view("\0", 1));  // "ab"+"c" and "a"+"bc" differ
  mix(target_name);
  return std::chrono::milliseconds(h % static_cast<uint64_t>(interval.count()));
}

ScheduleQueue::Clock::time_point NextSlot(ScheduleQueue::Clock::time_point origin,
                                          std::chrono::milliseconds interval,
                                          ScheduleQueue::Clock::time_point after) {
  if (after < origin) return origin;
  auto step = std::chrono::duration_cast<ScheduleQueue::Clock::duration>(interval);
  auto k = (after - origin) / step + 1;
  return origin + k * step;
}

}  // namespace parallax::probe
