#include "common/escape.h"

#include <gtest/gtest.h>

namespace parallax {
namespace {

TEST(Escape, PrintableTextIsKept) {
  EXPECT_EQ(EscapeForTerminal("SSH-2.0-OpenSSH_9.2p1 Debian-2"), "SSH-2.0-OpenSSH_9.2p1 Debian-2");
  EXPECT_EQ(EscapeForTerminal("Zürich ✓"), "Zürich ✓");
  EXPECT_TRUE(IsSafeText("Zürich ✓"));
}

TEST(Escape, C0AndDel) {
  EXPECT_EQ(EscapeForTerminal("\x1b]0;PWNED\a"), "\\x1b]0;PWNED\\x07");
  EXPECT_EQ(EscapeForTerminal("a\tb\nc\rd\x7f"), "a\\tb\\nc\\rd\\x7f");
  EXPECT_EQ(EscapeForTerminal(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeForTerminal("back\\slash \\x1b"), "back\\slash \\x1b");
  EXPECT_FALSE(IsSafeText("\x1b[2J"));
}

TEST(Escape, C1EncodedAndRaw) {
  // U+009B (CSI) encoded as UTF-8, then as a raw byte (invalid UTF-8).
  EXPECT_EQ(EscapeForTerminal("SSH-2.0-x\xc2\x9b"
                              "2J"),
            "SSH-2.0-x\\u009b2J");
  EXPECT_EQ(EscapeForTerminal("x\x9b"
                              "2J"),
            "x\\x9b2J");
  EXPECT_EQ(EscapeForTerminal("\xc2\x85"), "\\u0085");
  EXPECT_EQ(EscapeForTerminal("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable
  EXPECT_FALSE(IsSafeText("\xc2\x9b"));
}

TEST(Escape, Bidi) {
  EXPECT_EQ(EscapeForTerminal("a\u202eb"), "a\\u202eb");
  EXPECT_EQ(EscapeForTerminal("\u202a\u202b\u202c\u202d"), "\\u202a\\u202b\\u202c\\u202d");
  EXPECT_EQ(EscapeForTerminal("\u2066\u2067\u2068\u2069"), "\\u2066\\u2067\\u2068\\u2069");
  EXPECT_EQ(EscapeForTerminal("\u200e\u200f\u061c"), "\\u200e\\u200f\\u061c");
  EXPECT_FALSE(IsSafeText("\u2067"));
}

TEST(Escape, InvalidUtf8) {
  EXPECT_EQ(EscapeForTerminal("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(EscapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeForTerminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(EscapeForTerminal("ok\xe2\x82"), "ok\\xe2\\x82");       // truncated
  EXPECT_EQ(SanitizeUtf8("a\x9b\xc2\x9b"), "a\\x9b\xc2\x9b");       // valid C1 kept for JSON
}

}  // namespace
}  // namespace parallax
