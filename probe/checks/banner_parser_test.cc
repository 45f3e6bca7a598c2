#include "probe/checks/banner_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parallax::probe {
namespace {

using State = BannerParser::State;
using Lines = std::vector<std::string>;

struct Case {
  const char* name;
  std::string input;
  bool finish;  // the connection ends after `input`
  State state;
  std::string identification;
  Lines pre_banner;
  std::string detail;  // a substring of not_ssh_detail() ("" when not NotSsh)
};

std::string S(const char* s, size_t n) { return std::string(s, n); }

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"crlf",
       "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-OpenSSH_9.2p1 Debian-2",
       {},
       ""},
      {"bare_lf", "SSH-2.0-dropbear\n", false, State::kIdentified, "SSH-2.0-dropbear", {}, ""},
      {"lone_cr_ends_line", "SSH-2.0-x\r", false, State::kIdentified, "SSH-2.0-x", {}, ""},
      {"ssh_1_99",
       "SSH-1.99-Cisco-1.25\r\n",
       false,
       State::kIdentified,
       "SSH-1.99-Cisco-1.25",
       {},
       ""},
      {"two_pre_banner_lines",
       "Welcome\r\nAuthorized use only\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"Welcome", "Authorized use only"},
       ""},
      {"mixed_line_ends",
       "a\rb\nc\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"a", "b", "c"},
       ""},
      {"cr_cr_lf", "a\r\r\nSSH-2.0-y\n", false, State::kIdentified, "SSH-2.0-y", {"a", ""}, ""},
      {"empty_lines_kept",
       "\r\n\r\nSSH-2.0-y\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-y",
       {"", ""},
       ""},
      {"binary_after_identification_ignored",
       "SSH-2.0-x\r\n" + S("\0\0\x01\x14\x0a\x14", 6),
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {},
       ""},
      {"tab_and_utf8_kept",
       "Gr\xc3\xbc\xc3\x9f\x65\tdich\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"Gr\xc3\xbc\xc3\x9f\x65\tdich"},
       ""},
      {"invalid_utf8_escaped",
       "\xff\xfe\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"\\xff\\xfe"},
       ""},
      {"not_a_status_line",
       "HTTPS lives elsewhere\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"HTTPS lives elsewhere"},
       ""},
      {"line_of_254_plus_lf_allowed",
       std::string(254, 'a') + "\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {std::string(254, 'a')},
       ""},
      {"empty_input", "", false, State::kNeedMore, "", {}, ""},
      {"pre_banner_so_far",
       "Too many connections\r\n",
       false,
       State::kNeedMore,
       "",
       {"Too many connections"},
       ""},
      {"pre_banner_then_eof",
       "Too many connections\r\n",
       true,
       State::kNeedMore,
       "",
       {"Too many connections"},
       ""},
      {"identification_without_newline_at_eof",
       "SSH-2.0-partial",
       true,
       State::kNeedMore,
       "",
       {"SSH-2.0-partial"},
       ""},
      {"identification_without_newline_waits",
       "SSH-2.0-partial",
       false,
       State::kNeedMore,
       "",
       {},
       ""},
      {"http",
       "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "HTTP response: \"HTTP/1.1 400 Bad Request\""},
      {"http_after_pre_banner",
       "hello\r\nHTTP/1.0 200 OK\r\n",
       false,
       State::kNotSsh,
       "",
       {"hello"},
       "HTTP response"},
      {"smtp",
       "220 mail.example.com ESMTP Postfix\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "SMTP or FTP greeting: \"220 mail.example.com ESMTP Postfix\""},
      {"ftp_multiline",
       "220-Welcome to FTP\r\n220 ready\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "SMTP or FTP greeting"},
      {"pop3", "+OK Dovecot ready.\r\n", false, State::kNotSsh, "", {}, "POP3 greeting"},
      {"imap",
       "* OK [CAPABILITY IMAP4rev1] ready\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "IMAP greeting"},
      {"tls_alert",
       S("\x15\x03\x01\x00\x02\x02\x46", 7),
       false,
       State::kNotSsh,
       "",
       {},
       "TLS alert record: \"\\x15\\x03"},
      {"tls_handshake",
       S("\x16\x03\x03\x00\x10", 5),
       false,
       State::kNotSsh,
       "",
       {},
       "TLS handshake record"},
      {"tls_like_byte_then_text", "\x15hello", false, State::kNotSsh, "", {}, "binary data"},
      {"lone_binary_byte_at_eof", "\x15", true, State::kNotSsh, "", {}, "binary data"},
      {"nul_in_line",
       S("hello\0world\r\n", 13),
       false,
       State::kNotSsh,
       "",
       {},
       "binary data: \"hello\\x00"},
      {"escape_byte", "ok\x1b[31m\r\n", false, State::kNotSsh, "", {}, "binary data"},
      {"overlong_line",
       std::string(300, 'a'),
       false,
       State::kNotSsh,
       "",
       {},
       "line longer than 255 bytes"},
      {"ssh_1_5_only",
       "SSH-1.5-1.2.27\n",
       false,
       State::kNotSsh,
       "",
       {},
       "speaks SSH protocol 1 only: \"SSH-1.5-1.2.27\""},
      {"ssh_1_0_after_pre_banner",
       "hello\r\nSSH-1.0-x\r\n",
       false,
       State::kNotSsh,
       "",
       {"hello"},
       "speaks SSH protocol 1 only"},
      {"ssh_3_0", "SSH-3.0-future\r\n", false, State::kNotSsh, "", {}, "unsupported SSH protocol"},
      {"ssh_2_0_lookalike", "SSH-2.00-x\r\n", false, State::kNotSsh, "", {}, "unsupported"},
      {"resp_error",
       "-ERR unknown command 'HELLO', with args beginning with: \r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "RESP (Redis) error: \"-ERR unknown command"},
      {"resp_denied",
       "-DENIED Redis is running in protected mode\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "RESP (Redis) error"},
      {"resp_error_at_eof_without_newline", "-ERR x", true, State::kNotSsh, "", {}, "RESP"},
      {"dashes_are_not_resp",
       "--- Authorized use only ---\r\n-----\r\n-A b\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"--- Authorized use only ---", "-----", "-A b"},
       ""},
      {"html_doctype",
       "<!DOCTYPE HTML>\n<html lang=\"en\">\n",
       false,
       State::kNotSsh,
       "",
       {},
       "HTML document: \"<!DOCTYPE HTML>\""},
      {"html_lowercase_indented",
       "  <html><body>Bad</body></html>\n",
       false,
       State::kNotSsh,
       "",
       {},
       "HTML document"},
      {"html_at_eof_without_newline", "<html>", true, State::kNotSsh, "", {}, "HTML document"},
      {"text_mentioning_html_is_kept",
       "see <html> docs\r\nSSH-2.0-x\r\n",
       false,
       State::kIdentified,
       "SSH-2.0-x",
       {"see <html> docs"},
       ""},
      {"overlong_identification",
       "SSH-2.0-" + std::string(260, 'x') + "\r\n",
       false,
       State::kNotSsh,
       "",
       {},
       "line longer than 255 bytes"},
  };
  return cases;
}

void ExpectParsed(const Case& c, const BannerParser& p, const std::string& how) {
  SCOPED_TRACE(std::string(c.name) + " fed " + how);
  EXPECT_EQ(p.state(), c.state);
  EXPECT_EQ(p.identification(), c.identification);
  EXPECT_EQ(p.pre_banner(), c.pre_banner);
  if (c.detail.empty()) {
    EXPECT_EQ(p.not_ssh_detail(), "");
  } else {
    EXPECT_NE(p.not_ssh_detail().find(c.detail), std::string::npos) << p.not_ssh_detail();
  }
}

TEST(BannerParserTest, TableWholeInput) {
  for (const Case& c : Cases()) {
    BannerParser p;
    p.Feed(c.input);
    if (c.finish) p.Finish();
    ExpectParsed(c, p, "whole");
  }
}

TEST(BannerParserTest, TableByteAtATime) {
  for (const Case& c : Cases()) {
    BannerParser p;
    for (char ch : c.input) p.Feed(std::string_view(&ch, 1));
    if (c.finish) p.Finish();
    ExpectParsed(c, p, "byte at a time");
  }
}

TEST(BannerParserTest, TableEverySplitIntoTwo) {
  for (const Case& c : Cases()) {
    for (size_t cut = 0; cut <= c.input.size(); ++cut) {
      BannerParser p;
      p.Feed(std::string_view(c.input).substr(0, cut));
      p.Feed(std::string_view(c.input).substr(cut));
      if (c.finish) p.Finish();
      ExpectParsed(c, p, "split at " + std::to_string(cut));
    }
  }
}

TEST(BannerParserTest, FeedReturnsStateAndIgnoresBytesAfterTheEnd) {
  BannerParser p;
  EXPECT_EQ(p.Feed("Hi\r\n"), State::kNeedMore);
  EXPECT_EQ(p.Feed("SSH-2.0-a\r\nSSH-2.0-b\r\n"), State::kIdentified);
  EXPECT_EQ(p.Feed("more\r\n"), State::kIdentified);
  p.Finish();
  EXPECT_EQ(p.identification(), "SSH-2.0-a");
  EXPECT_EQ(p.pre_banner(), Lines{"Hi"});
}

TEST(BannerParserTest, PreBannerLineCapTruncatesAndCounts) {
  BannerParser p;
  for (int i = 0; i < 25; ++i) p.Feed("line " + std::to_string(i) + "\r\n");
  EXPECT_EQ(p.Feed("SSH-2.0-x\r\n"), State::kIdentified);
  ASSERT_EQ(p.pre_banner().size(), BannerParser::kMaxPreBannerLines);
  EXPECT_EQ(p.pre_banner().front(), "line 0");
  EXPECT_EQ(p.pre_banner().back(), "line 19");
  EXPECT_EQ(p.pre_banner_dropped(), 5u);
}

TEST(BannerParserTest, PreBannerByteCapTruncatesAndCounts) {
  BannerParser p;
  for (int i = 0; i < 19; ++i) p.Feed(std::string(250, 'a' + i) + "\r\n");
  EXPECT_EQ(p.Feed("SSH-2.0-x\r\n"), State::kIdentified);
  size_t total = 0;
  for (const auto& line : p.pre_banner()) total += line.size();
  EXPECT_EQ(total, BannerParser::kMaxPreBannerBytes);
  ASSERT_EQ(p.pre_banner().size(), 17u);  // 16 whole lines and 96 bytes of the 17th
  EXPECT_EQ(p.pre_banner().back(), std::string(96, 'a' + 16));
  EXPECT_EQ(p.pre_banner_dropped(), 3u);  // the cut 17th, the 18th and the 19th
}

constexpr char kOwn[] = "SSH-2.0-parallax_probe_0.1.0";

TEST(BannerParserTest, OwnLineEchoedBack) {
  BannerParser p(kOwn);
  EXPECT_EQ(p.Feed(std::string(kOwn) + "\r\n"), State::kNotSsh);
  EXPECT_TRUE(p.echoed_own());
  EXPECT_NE(p.not_ssh_detail().find("echoes the probe's own identification line"),
            std::string::npos);
  EXPECT_EQ(p.identification(), "");
}

TEST(BannerParserTest, OwnLineEchoedWithoutLineEndAtEof) {
  BannerParser p(kOwn);
  p.Feed(kOwn);
  p.Finish();
  EXPECT_EQ(p.state(), State::kNotSsh);
  EXPECT_TRUE(p.echoed_own());
}

TEST(BannerParserTest, OwnLineQuotedByRedis) {
  BannerParser p(kOwn);
  EXPECT_EQ(
      p.Feed("-ERR unknown command '" + std::string(kOwn) + "', with args beginning with: \r\n"),
      State::kNotSsh);
  EXPECT_FALSE(p.echoed_own());
  EXPECT_NE(p.not_ssh_detail().find("quotes the probe's own identification line"),
            std::string::npos)
      << p.not_ssh_detail();
}

TEST(BannerParserTest, OwnLineQuotedInPlainText) {
  BannerParser p(kOwn);
  EXPECT_EQ(p.Feed("unknown input " + std::string(kOwn) + "\n"), State::kNotSsh);
  EXPECT_NE(p.not_ssh_detail().find("quotes"), std::string::npos);
}

TEST(BannerParserTest, OtherServersIdentificationIsNotOurs) {
  BannerParser p(kOwn);
  EXPECT_EQ(p.Feed("SSH-2.0-OpenSSH_9.2p1\r\n"), State::kIdentified);
  EXPECT_FALSE(p.echoed_own());
}

TEST(BannerParserTest, Ssh1OnlyFlag) {
  BannerParser p;
  EXPECT_EQ(p.Feed("SSH-1.5-1.2.27\r\n"), State::kNotSsh);
  EXPECT_TRUE(p.ssh1_only());
  BannerParser q;
  EXPECT_EQ(q.Feed("SSH-1.99-x\r\n"), State::kIdentified);
  EXPECT_FALSE(q.ssh1_only());
}

}  // namespace
}  // namespace parallax::probe
