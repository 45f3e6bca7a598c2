#include "probe/checks/printable.h"

#include <gtest/gtest.h>

namespace parallax::probe {
namespace {

TEST(PrintableTest, EscapesControlAndInvalidBytesKeepsUtf8) {
  EXPECT_EQ(Printable("plain text"), "plain text");
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("\r\n\t\\"), "\\r\\n\\t\\\\");
  EXPECT_EQ(Printable("caf\xc3\xa9"), "caf\xc3\xa9");       // valid UTF-8 kept
  EXPECT_EQ(Printable("\xff\xc3"), "\\xff\\xc3");           // invalid / truncated sequence
  EXPECT_EQ(Printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // UTF-16 surrogate
  EXPECT_EQ(Printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong encoding
  EXPECT_EQ(Printable("\x7f"), "\\x7f");
}

TEST(PrintableTest, TruncatesAtCharacterBoundary) {
  EXPECT_EQ(Printable("abcdef", 4), "abcd...");
  EXPECT_EQ(Printable("ab\x01", 4), "ab...");  // "\x01" needs 4 bytes, only 2 left
  EXPECT_EQ(Printable("a\xc3\xa9", 2), "a...");
  EXPECT_EQ(Printable("abcd", 4), "abcd");
}

TEST(PrintableTest, LineKeepsTabsAndBackslashesUnchanged) {
  EXPECT_EQ(PrintableLine("a\tb\\c", 100), "a\tb\\c");
  EXPECT_EQ(PrintableLine("ab\xff", 100), "ab\\xff");
  EXPECT_EQ(PrintableLine("abcdef", 3), "abc");
}

}  // namespace
}  // namespace parallax::probe
