// ResultRateLimit on a simulated clock.
#include "collector/ingest/rate_limit.h"

#include <gtest/gtest.h>

namespace parallax::collector {
namespace {

TEST(ResultRateLimitTest, BurstIsFreeThenTheDebtIsPaidInTime) {
  ResultRateLimit limit(/*per_second=*/100, /*burst=*/200);
  EXPECT_EQ(limit.Take(150, 1000), 0);
  EXPECT_EQ(limit.Take(50, 1000), 0);  // the burst, exactly
  // 50 more: 50 in debt at 100/s = 500 ms.
  EXPECT_EQ(limit.Take(50, 1000), 501);
  // After the wait the debt is paid; 500 ms later 50 tokens are back.
  EXPECT_EQ(limit.Take(0, 1500), 0);
  EXPECT_EQ(limit.Take(50, 2000), 0);
  // Refill never exceeds the burst.
  EXPECT_EQ(limit.Take(200, 100'000), 0);
  EXPECT_GT(limit.Take(1, 100'000), 0);
}

TEST(ResultRateLimitTest, SteadyRateAtTheLimitNeverWaits) {
  ResultRateLimit limit(1000, 1000);
  for (int64_t t = 0; t < 10'000; t += 100) EXPECT_EQ(limit.Take(100, t), 0) << t;
}

TEST(ResultRateLimitTest, ABackwardsClockGivesNoTokens) {
  ResultRateLimit limit(10, 10);
  EXPECT_EQ(limit.Take(10, 5000), 0);
  EXPECT_GT(limit.Take(1, 1000), 0);
}

TEST(ResultRateLimitTest, ZeroRateIsUnlimited) {
  ResultRateLimit limit(0, 0);
  EXPECT_EQ(limit.Take(1'000'000, 0), 0);
}

}  // namespace
}  // namespace parallax::collector
