#include "probe/checks/second_opinion_check.h"

#include <gtest/gtest.h>

#include <chrono>

#include "probe/checks/test_server.h"

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;
using testing::ServerBehavior;
using testing::TestServer;
using What = SecondOpinionCheck::What;

class SecondOpinionTest : public ::testing::Test {
 protected:
  SecondOpinionCheck::Result Run(uint16_t port, milliseconds deadline) {
    auto c = SecondOpinionCheck::Create(
        io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
        "example.test", milliseconds(300));
    bool done = false;
    StartWithDeadline(io_, c, deadline, [&] { done = true; });
    for (int i = 0; i < 300 && !done; ++i) io_.run_for(milliseconds(20));
    EXPECT_TRUE(done);
    return c->result();
  }
  boost::asio::io_context io_;
};

TEST(TlsClientHelloTest, IsOneWellFormedHandshakeRecord) {
  std::string h = TlsClientHello();
  ASSERT_GT(h.size(), 9u);
  EXPECT_EQ(h[0], 0x16);
  EXPECT_EQ(h[1], 0x03);
  size_t record_len = (static_cast<uint8_t>(h[3]) << 8) | static_cast<uint8_t>(h[4]);
  EXPECT_EQ(record_len + 5, h.size());
  EXPECT_EQ(h[5], 0x01);  // ClientHello
  size_t hs_len = (static_cast<uint8_t>(h[7]) << 8) | static_cast<uint8_t>(h[8]);
  EXPECT_EQ(hs_len + 4, record_len);
}

TEST_F(SecondOpinionTest, TlsRecordAnswerIsTls) {
  TestServer server(io_, ServerBehavior::kSsh, std::string("\x15\x03\x03\x00\x02\x02\x28", 7));
  auto r = Run(server.port(), milliseconds(3000));
  EXPECT_EQ(r.what, What::kTls) << r.detail;
  EXPECT_NE(r.detail.find("speaks TLS"), std::string::npos) << r.detail;
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(SecondOpinionTest, HttpServerSilentOnTlsIsHttp) {
  // Reads a line (the ClientHello has none: silence), then HTTP answers the HEAD.
  TestServer server(io_, ServerBehavior::kHttp);
  auto r = Run(server.port(), milliseconds(3000));
  EXPECT_EQ(r.what, What::kHttp) << r.detail;
  EXPECT_NE(r.detail.find("speaks HTTP (answered a HEAD request with \"HTTP/1.1 400"),
            std::string::npos)
      << r.detail;
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(SecondOpinionTest, ResetTwiceIsUnknown) {
  TestServer server(io_, ServerBehavior::kReset);
  auto r = Run(server.port(), milliseconds(3000));
  EXPECT_EQ(r.what, What::kUnknown) << r.detail;
  EXPECT_NE(r.detail.find("TLS ClientHello"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("HTTP request"), std::string::npos) << r.detail;
}

TEST_F(SecondOpinionTest, SilenceEndsAtTheDeadline) {
  TestServer server(io_, ServerBehavior::kSilent);
  auto start = std::chrono::steady_clock::now();
  auto r = Run(server.port(), milliseconds(800));
  EXPECT_EQ(r.what, What::kUnknown);
  EXPECT_NE(r.detail.find("before the deadline"), std::string::npos) << r.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace parallax::probe
