#include "common/words.h"

#include <gtest/gtest.h>

#include <set>

namespace parallax {
namespace {

TEST(WordsTest, EveryOutcomeHasAUniqueWordThatRoundTrips) {
  std::set<std::string_view> seen;
  for (int i = v1::Outcome_MIN + 1; i <= v1::Outcome_MAX; ++i) {
    auto o = static_cast<v1::Outcome>(i);
    std::string_view w = OutcomeWord(o);
    EXPECT_NE(w, "unspecified") << i;
    EXPECT_TRUE(seen.insert(w).second) << w;
    v1::Outcome back{};
    ASSERT_TRUE(ParseOutcomeWord(w, &back)) << w;
    EXPECT_EQ(back, o);
  }
  v1::Outcome o{};
  EXPECT_FALSE(ParseOutcomeWord("bogus", &o));
  EXPECT_FALSE(ParseOutcomeWord("unspecified", &o));
}

TEST(WordsTest, EveryCauseHasAUniqueWordThatRoundTrips) {
  std::set<std::string_view> seen;
  for (int i = v1::Cause_MIN + 1; i <= v1::Cause_MAX; ++i) {
    auto c = static_cast<v1::Cause>(i);
    std::string_view w = CauseWord(c);
    EXPECT_NE(w, "unspecified") << i;
    EXPECT_TRUE(seen.insert(w).second) << w;
    v1::Cause back{};
    ASSERT_TRUE(ParseCauseWord(w, &back)) << w;
    EXPECT_EQ(back, c);
  }
  EXPECT_EQ(CauseWord(v1::CAUSE_FIREWALL_BLOCK), "firewall_block");
  EXPECT_EQ(OutcomeWord(v1::OUTCOME_BANNER_TIMEOUT), "banner_timeout");
}

}  // namespace
}  // namespace parallax
