#include "collector/ingest/clock_offset.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace parallax::collector {
namespace {

constexpr int64_t kBase = 1'700'000'000'000;

TEST(ClockOffsetTest, UnknownUntilASample) {
  ClockOffset c;
  EXPECT_FALSE(c.known());
  EXPECT_EQ(c.offset_ms(), 0);
  EXPECT_EQ(c.rtt_ms(), -1);
  c.Add(0, kBase);  // an old probe: no send time
  EXPECT_FALSE(c.known());
}

TEST(ClockOffsetTest, OneWaySampleFromHello) {
  ClockOffset c;
  // The probe is 10 minutes behind; the message took 3 ms.
  c.Add(kBase - 600'000, kBase + 3);
  ASSERT_TRUE(c.known());
  EXPECT_EQ(c.offset_ms(), -600'003);
  EXPECT_EQ(c.rtt_ms(), -1);
  EXPECT_EQ(c.ToCollector(kBase - 600'000), kBase + 3);
}

TEST(ClockOffsetTest, RoundTripCancelsTheDelay) {
  ClockOffset c;
  // Probe 10 minutes ahead, 20 ms each way, the probe answers 500 ms later.
  const int64_t off = 600'000;
  const int64_t t1 = kBase;          // collector sends the ack
  const int64_t t2 = t1 + 20 + off;  // probe reads it (its clock)
  const int64_t t3 = t2 + 500;       // probe sends a batch
  const int64_t t4 = t3 - off + 20;  // collector reads it
  c.Add(t3, t4, t1, t2);
  EXPECT_EQ(c.offset_ms(), off);
  EXPECT_EQ(c.rtt_ms(), 40);
}

TEST(ClockOffsetTest, AsymmetricDelayErrsByAtMostHalfTheRoundTrip) {
  ClockOffset c;
  const int64_t off = -600'000;
  const int64_t t1 = kBase, t2 = t1 + 1 + off, t3 = t2 + 100, t4 = t3 - off + 99;
  c.Add(t3, t4, t1, t2);
  EXPECT_LE(std::abs(c.offset_ms() - off), c.rtt_ms() / 2);
  EXPECT_EQ(c.rtt_ms(), 100);
}

TEST(ClockOffsetTest, SmallestRoundTripWinsAndOneWayIsDroppedOnceARoundTripIsKnown) {
  ClockOffset c;
  c.Add(kBase + 5000, kBase);  // one way: +5000
  EXPECT_EQ(c.offset_ms(), 5000);
  // Round trip 10 ms: offset 2000.
  c.Add(kBase + 2105, kBase + 110, kBase + 90, kBase + 2095);
  EXPECT_EQ(c.offset_ms(), 2000);
  EXPECT_EQ(c.rtt_ms(), 10);
  // A sample queued on the way back (round trip 595 ms, offset 1902) says less.
  c.Add(kBase + 2905, kBase + 1300, kBase + 700, kBase + 2900);
  EXPECT_EQ(c.offset_ms(), 2000);
  c.Add(kBase + 9999, kBase + 1200);  // one way again: ignored
  EXPECT_EQ(c.offset_ms(), 2000);
}

TEST(ClockOffsetTest, NonCausalEchoFallsBackToOneWay) {
  ClockOffset c;
  // Echoed collector time after the arrival: a forged or confused echo.
  c.Add(kBase + 50, kBase, kBase + 10, kBase + 40);
  EXPECT_EQ(c.rtt_ms(), -1);
  EXPECT_EQ(c.offset_ms(), 50);
}

TEST(ClockOffsetTest, WindowForgetsOldSamples) {
  ClockOffset c;
  c.Add(kBase + 1002, kBase + 2, kBase, kBase + 1001);  // rtt 1, offset 1000
  EXPECT_EQ(c.offset_ms(), 1000);
  for (size_t i = 0; i < ClockOffset::kWindow; ++i) {
    int64_t t1 = kBase + 10'000 * (i + 1);
    c.Add(t1 - 2985, t1 + 25, t1, t1 - 2990);  // rtt 20, offset -3000
  }
  EXPECT_EQ(c.offset_ms(), -3000);
}

}  // namespace
}  // namespace parallax::collector
