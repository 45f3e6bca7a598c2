#include "probe/transport/backoff.h"

#include <gtest/gtest.h>

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsExponentiallyWithJitterAndCaps) {
  Backoff b(milliseconds(100), milliseconds(1000), 42);
  int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t ceiling : ceilings) {
    int64_t d = b.Next().count();
    EXPECT_GE(d, ceiling / 2);
    EXPECT_LE(d, ceiling);
  }
  b.Reset();
  int64_t d = b.Next().count();
  EXPECT_GE(d, 50);
  EXPECT_LE(d, 100);
}

TEST(BackoffTest, DifferentSeedsSpreadReconnects) {
  Backoff a(milliseconds(1000), milliseconds(30000), 1), b(milliseconds(1000), milliseconds(30000), 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) differ |= a.Next() != b.Next();
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace parallax::probe
