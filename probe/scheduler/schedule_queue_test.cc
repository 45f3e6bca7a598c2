#include "probe/scheduler/schedule_queue.h"

#include <gtest/gtest.h>

#include <set>

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;
using Clock = ScheduleQueue::Clock;

TEST(ScheduleQueueTest, PopsInDueOrderTiesFirstInFirstOut) {
  ScheduleQueue q;
  Clock::time_point t0{};
  q.Push(t0 + milliseconds(30), 1);
  q.Push(t0 + milliseconds(10), 2);
  q.Push(t0 + milliseconds(20), 3);
  q.Push(t0 + milliseconds(10), 4);
  q.Push(t0 + milliseconds(10), 5);
  std::vector<uint64_t> keys;
  while (!q.empty()) keys.push_back(q.Pop().key);
  EXPECT_EQ(keys, (std::vector<uint64_t>{2, 4, 5, 3, 1}));
}

TEST(ScheduleQueueTest, ManyEntriesStaySorted) {
  ScheduleQueue q;
  Clock::time_point t0{};
  for (uint64_t i = 0; i < 10000; ++i) q.Push(t0 + milliseconds((i * 7919) % 10007), i);
  EXPECT_EQ(q.size(), 10000u);
  Clock::time_point last = t0;
  while (!q.empty()) {
    auto e = q.Pop();
    EXPECT_GE(e.due, last);
    last = e.due;
  }
}

TEST(ScheduleQueueTest, JitterIsStableWithinIntervalAndSpreads) {
  milliseconds interval(60000);
  EXPECT_EQ(JitterOffset("probe-a", "web1", interval), JitterOffset("probe-a", "web1", interval));
  EXPECT_NE(JitterOffset("probe-a", "web1", interval), JitterOffset("probe-b", "web1", interval));
  EXPECT_NE(JitterOffset("ab", "c", interval), JitterOffset("a", "bc", interval));
  std::set<int64_t> seen;
  for (int i = 0; i < 100; ++i) {
    auto off = JitterOffset("probe-a", "target" + std::to_string(i), interval);
    EXPECT_GE(off.count(), 0);
    EXPECT_LT(off, interval);
    seen.insert(off.count() / 6000);  // which tenth of the interval
  }
  EXPECT_GE(seen.size(), 8u);  // 100 targets land in (nearly) every tenth
  EXPECT_EQ(JitterOffset("p", "t", milliseconds(0)).count(), 0);
}

TEST(ScheduleQueueTest, NextSlotKeepsPhase) {
  Clock::time_point o{milliseconds(1000)};
  milliseconds i(100);
  EXPECT_EQ(NextSlot(o, i, o - milliseconds(5)), o);
  EXPECT_EQ(NextSlot(o, i, o), o + milliseconds(100));
  EXPECT_EQ(NextSlot(o, i, o + milliseconds(99)), o + milliseconds(100));
  EXPECT_EQ(NextSlot(o, i, o + milliseconds(100)), o + milliseconds(200));
  EXPECT_EQ(NextSlot(o, i, o + milliseconds(1234)), o + milliseconds(1300));
}

}  // namespace
}  // namespace parallax::probe
