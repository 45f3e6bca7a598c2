#include "probe/scheduler/source_addresses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parallax::probe {
namespace {

TEST(SourceAddressesTest, NewestFirstPerFamilyAtMostFourEach) {
  SourceAddresses s;
  s.Note("10.0.0.1");
  s.Note("2001:db8::1");
  s.Note("10.0.0.2");
  s.Note("10.0.0.1");  // moves to the front
  EXPECT_EQ(s.Get(), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "2001:db8::1"}));
  for (int i = 3; i <= 9; ++i) s.Note("10.0.0." + std::to_string(i));
  EXPECT_EQ(s.Get().size(), SourceAddresses::kPerFamily + 1);
  s.Note("");
  s.Note(std::string(65, '1'));
  EXPECT_EQ(s.Get().front(), "10.0.0.9");
}

// A busy probe sends results without heartbeats: a new source address makes
// one due (once), so the collector learns it; the same addresses again do not.
TEST(SourceAddressesTest, ANewAddressMakesAHeartbeatDueOnce) {
  SourceAddresses s;
  EXPECT_FALSE(s.TakeChanged());
  s.Note("10.0.0.1");
  EXPECT_TRUE(s.TakeChanged());
  EXPECT_FALSE(s.TakeChanged());
  for (int i = 0; i < 100; ++i) s.Note("10.0.0.1");
  EXPECT_FALSE(s.TakeChanged());
  s.Note("10.0.0.2");
  s.Note("10.0.0.1");  // known: only moves to the front
  EXPECT_TRUE(s.TakeChanged());
  s.Note("10.0.0.2");
  EXPECT_FALSE(s.TakeChanged());
  s.Note("");  // ignored
  EXPECT_FALSE(s.TakeChanged());
}

}  // namespace
}  // namespace parallax::probe
