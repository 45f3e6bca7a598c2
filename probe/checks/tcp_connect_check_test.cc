#include "probe/checks/tcp_connect_check.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>

#include "probe/checks/test_server.h"

namespace parallax::probe {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;
using std::chrono::milliseconds;

class TcpConnectCheckTest : public ::testing::Test {
 protected:
  std::shared_ptr<TcpConnectCheck> Run(uint16_t port, milliseconds timeout) {
    auto check = TcpConnectCheck::Create(io_, tcp::endpoint(make_address("127.0.0.1"), port));
    bool done = false;
    StartWithDeadline(io_, check, timeout, [&] { done = true; });
    for (int i = 0; i < 500 && !done; ++i) io_.run_for(milliseconds(20));
    EXPECT_TRUE(done);
    return check;
  }
  boost::asio::io_context io_;
};

TEST_F(TcpConnectCheckTest, OkOnListener) {
  testing::TestServer server(io_, testing::ServerBehavior::kSilent);
  auto check = Run(server.port(), milliseconds(5000));
  EXPECT_EQ(check->result().outcome(), v1::OUTCOME_OK) << check->detail();
  EXPECT_EQ(check->result().port(), server.port());
  EXPECT_EQ(check->error_number(), 0);
  io_.run_for(milliseconds(20));
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(TcpConnectCheckTest, RefusedOnClosedPort) {
  uint16_t port = testing::ClosedPort();
  auto check = Run(port, milliseconds(5000));
  EXPECT_EQ(check->result().outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(check->result().port(), port);
  EXPECT_EQ(check->result().connect_us(), 0u);
  EXPECT_EQ(check->error_number(), ECONNREFUSED);
}

TEST_F(TcpConnectCheckTest, TimeoutWhenConnectIsNeverAnswered) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  auto start = std::chrono::steady_clock::now();
  auto check = Run(listener.port(), milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(check->result().outcome(), v1::OUTCOME_TIMEOUT) << check->detail();
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(3000));
}

}  // namespace
}  // namespace parallax::probe
