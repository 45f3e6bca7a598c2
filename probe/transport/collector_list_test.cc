#include "probe/transport/collector_list.h"

#include <gtest/gtest.h>

namespace parallax::probe {
namespace {

TEST(CollectorListTest, OneAddressIsTheSingleCollectorOfBefore) {
  CollectorList list;
  ASSERT_TRUE(CollectorList::Parse("127.0.0.1:7420", &list).ok());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list.Current(), "127.0.0.1:7420");
  list.Advance();
  EXPECT_EQ(list.Current(), "127.0.0.1:7420");
}

TEST(CollectorListTest, SeveralAddressesRotateInOrderAndWrap) {
  CollectorList list;
  ASSERT_TRUE(CollectorList::Parse("a.example:7420, b.example:7421,[::1]:7422", &list).ok());
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list.Joined(), "a.example:7420,b.example:7421,[::1]:7422");
  EXPECT_EQ(list.Current(), "a.example:7420");
  list.Advance();
  EXPECT_EQ(list.Current(), "b.example:7421");
  list.Advance();
  EXPECT_EQ(list.Current(), "[::1]:7422");
  EXPECT_EQ(list.current_index(), 2u);
  list.Advance();
  EXPECT_EQ(list.Current(), "a.example:7420");
}

TEST(CollectorListTest, BadInputIsRefusedNamingTheValue) {
  struct Case {
    const char* text;
    const char* names;  // the message must contain this
  };
  const Case cases[] = {
      {"", "empty address"},
      {"a:7420,", "empty address"},
      {"a:7420,,b:7420", "empty address"},
      {"a:7420,b", "\"b\": missing :PORT"},
      {"a:0", "\"a:0\": the port must be a number 1-65535"},
      {"a:65536", "\"a:65536\""},
      {"a:74x0", "\"a:74x0\""},
      {":7420", "empty host"},
      {"::1:7420", "brackets"},
      {"[::1:7420", "unclosed"},
      {"a:7420,a:7420", "\"a:7420\" is listed twice"},
  };
  for (const Case& c : cases) {
    CollectorList list;
    Status s = CollectorList::Parse(c.text, &list);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.names), std::string::npos) << c.text << ": " << s.message();
    EXPECT_NE(s.message().find(std::string("--collector \"") + c.text + "\""), std::string::npos)
        << s.message();
  }
}

}  // namespace
}  // namespace parallax::probe
