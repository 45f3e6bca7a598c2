#include "common/duration.h"

#include <gtest/gtest.h>

namespace parallax {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesEveryUnitAndSequences) {
  struct Case { const char* text; int64_t ms; };
  for (Case c : {Case{"500ms", 500}, Case{"10s", 10000}, Case{"5m", 300000}, Case{"1h", 3600000},
                 Case{"14d", 1209600000}, Case{"1m30s", 90000}, Case{"0s", 0}}) {
    milliseconds d{-1};
    ASSERT_TRUE(ParseDuration(c.text, &d).ok()) << c.text;
    EXPECT_EQ(d.count(), c.ms) << c.text;
  }
}

TEST(DurationTest, RejectsBadTextAndQuotesIt) {
  for (const char* text : {"", "10", "s", "10x", "-5s", "1.5s", "10 s", "99999999999999999999d"}) {
    milliseconds d{0};
    Status st = ParseDuration(text, &d);
    EXPECT_FALSE(st.ok()) << text;
    EXPECT_NE(st.message().find(std::string("\"") + text + "\""), std::string::npos)
        << st.message();
  }
}

TEST(DurationTest, FormatsShortestExactSpelling) {
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(86400000 + 1000)), "1d1s");
}

}  // namespace
}  // namespace parallax
