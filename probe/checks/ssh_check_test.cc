#include "probe/checks/ssh_check.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <thread>

#include "probe/checks/test_server.h"

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;
using testing::ServerBehavior;
using testing::TestServer;

constexpr char kIdentification[] = "SSH-2.0-parallax_probe_test";

class SshCheckTest : public ::testing::Test {
 protected:
  // Runs an SshCheck against host:port with `timeout` as deadline; returns its result.
  v1::CheckResult Run(const std::string& host, uint16_t port, milliseconds timeout,
                      milliseconds* took = nullptr) {
    auto check = SshCheck::Create(io_, {host, port, kIdentification});
    bool done = false;
    auto start = std::chrono::steady_clock::now();
    StartWithDeadline(io_, check, timeout, [&] { done = true; });
    // Bounded: the deadline ends the check; allow generous slack.
    for (int i = 0; i < 1000 && !done; ++i) io_.run_for(milliseconds(20));
    EXPECT_TRUE(done);
    if (took != nullptr) {
      *took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    }
    // Let the server side see our close.
    io_.run_for(milliseconds(20));
    return check->result();
  }

  boost::asio::io_context io_;
};

TEST_F(SshCheckTest, OkWithBanner) {
  TestServer server(io_, ServerBehavior::kSsh, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_EQ(r.identification(), "SSH-2.0-OpenSSH_9.2p1 Debian-2");
  EXPECT_EQ(r.address(), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(r.pre_banner_size(), 0);
  EXPECT_EQ(r.error_number(), 0);
  EXPECT_GT(r.started_unix_ms(), 1600000000000);
  EXPECT_LT(r.connect_us(), 5000000u);
  EXPECT_LT(r.banner_us(), 5000000u);
  // The server received our identification line (so sshd logs a clean close).
  ASSERT_EQ(server.lines().size(), 1u);
  EXPECT_EQ(server.lines()[0], kIdentification);
}

TEST_F(SshCheckTest, ALaggingEventLoopNeverTurnsATimelyBannerIntoATimeout) {
  // An overloaded probe: its event loop is busy past the check's deadline
  // while the server connects and sends its identification at once. When
  // the loop gets back, the connect, the read that the connect's handler
  // starts, and the expired deadline are all due. The server answered in
  // time: the outcome is ok, never banner_timeout (the probe's lag is not
  // the target's fault). The server runs on its own thread, so the lag is
  // the probe's alone.
  boost::asio::io_context server_io;
  TestServer server(server_io, ServerBehavior::kSsh, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  auto guard = boost::asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });

  auto check = SshCheck::Create(io_, {"127.0.0.1", server.port(), kIdentification});
  bool done = false;
  StartWithDeadline(io_, check, milliseconds(100), [&] { done = true; });
  // Start() has issued the non-blocking connect; now the loop stalls.
  boost::asio::post(io_, [] { std::this_thread::sleep_for(milliseconds(400)); });
  for (int i = 0; i < 200 && !done; ++i) io_.run_for(milliseconds(20));

  guard.reset();
  server_io.stop();
  server_thread.join();
  ASSERT_TRUE(done);
  const v1::CheckResult& r = check->result();
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_EQ(r.identification(), "SSH-2.0-OpenSSH_9.2p1 Debian-2");
}

TEST_F(SshCheckTest, SelfConnectIsAProbeErrorNeverOk) {
  // Source port == destination port on 127.0.0.1 with nothing listening: the
  // kernel completes a simultaneous open with itself, and our own line would
  // come back as an "identification".
  uint16_t port = testing::ClosedPort();
  auto check = SshCheck::Create(io_, {"127.0.0.1", port, kIdentification, port});
  bool done = false;
  StartWithDeadline(io_, check, milliseconds(3000), [&] { done = true; });
  for (int i = 0; i < 200 && !done; ++i) io_.run_for(milliseconds(20));
  ASSERT_TRUE(done);
  const v1::CheckResult& r = check->result();
  EXPECT_EQ(r.outcome(), v1::OUTCOME_PROBE_ERROR) << r.detail();
  EXPECT_NE(r.detail().find("TCP self-connect"), std::string::npos) << r.detail();
  EXPECT_EQ(r.identification(), "");
}

TEST_F(SshCheckTest, ServerEchoingOurLineIsNotSsh) {
  TestServer server(io_, ServerBehavior::kSsh, std::string(kIdentification) + "\r\n");
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << r.detail();
  EXPECT_NE(r.detail().find("echoes the probe's own identification line"), std::string::npos)
      << r.detail();
}

TEST_F(SshCheckTest, Ssh1OnlyServerIsNotSsh) {
  TestServer server(io_, ServerBehavior::kSsh, "SSH-1.5-1.2.27\r\n");
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << r.detail();
  EXPECT_NE(r.detail().find("speaks SSH protocol 1 only"), std::string::npos) << r.detail();
}

TEST_F(SshCheckTest, OkAfterPreBannerLines) {
  TestServer server(io_, ServerBehavior::kSsh,
                    "Welcome to host\r\nUnauthorized access prohibited\r\nSSH-2.0-dropbear\r\n");
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_EQ(r.identification(), "SSH-2.0-dropbear");
  ASSERT_EQ(r.pre_banner_size(), 2);
  EXPECT_EQ(r.pre_banner(0), "Welcome to host");
  EXPECT_EQ(r.pre_banner(1), "Unauthorized access prohibited");
  ASSERT_EQ(server.lines().size(), 1u);
  EXPECT_EQ(server.lines()[0], kIdentification);
}

TEST_F(SshCheckTest, OkOverIpv6LoopbackWhenAvailable) {
  boost::system::error_code ec;
  boost::asio::ip::tcp::acceptor a(io_);
  a.open(boost::asio::ip::tcp::v6(), ec);
  if (!ec) a.bind({boost::asio::ip::make_address("::1"), 0}, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  a.listen();
  auto peer = std::make_shared<boost::asio::ip::tcp::socket>(io_);
  std::string greeting = "SSH-2.0-v6\r\n";
  a.async_accept(*peer, [&](const boost::system::error_code& e) {
    if (!e) boost::asio::write(*peer, boost::asio::buffer(greeting));
  });
  v1::CheckResult r = Run("::1", a.local_endpoint().port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_EQ(r.address(), "[::1]:" + std::to_string(a.local_endpoint().port()));
}

TEST_F(SshCheckTest, ResolvesLocalhostName) {
  TestServer server(io_, ServerBehavior::kSsh);
  // "localhost" comes from /etc/hosts (nsswitch "files"): no DNS traffic.
  v1::CheckResult r = Run("localhost", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.detail();
  EXPECT_EQ(r.identification(), "SSH-2.0-TestServer_1.0");
}

TEST_F(SshCheckTest, RefusedOnClosedPort) {
  v1::CheckResult r = Run("127.0.0.1", testing::ClosedPort(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_REFUSED) << r.detail();
  EXPECT_EQ(r.error_number(), ECONNREFUSED);
  EXPECT_NE(r.detail().find("refused"), std::string::npos) << r.detail();
  EXPECT_EQ(r.connect_us(), 0u);
}

TEST_F(SshCheckTest, BannerTimeoutOnSilentServer) {
  TestServer server(io_, ServerBehavior::kSilent);
  milliseconds took;
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(300), &took);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_BANNER_TIMEOUT) << r.detail();
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(SshCheckTest, BannerTimeoutKeepsPartialText) {
  TestServer server(io_, ServerBehavior::kSsh, "Too many connections, try later\r\nSSH-2.0-Op");
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(300));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_BANNER_TIMEOUT) << r.detail();
  ASSERT_EQ(r.pre_banner_size(), 2);
  EXPECT_EQ(r.pre_banner(0), "Too many connections, try later");
  EXPECT_EQ(r.pre_banner(1), "SSH-2.0-Op");
}

TEST_F(SshCheckTest, ClosedWhenServerClosesAfterReadingOurLine) {
  TestServer server(io_, ServerBehavior::kCloseAfterLine);
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_CLOSED) << r.detail();
  EXPECT_EQ(r.error_number(), 0);
  EXPECT_GT(r.connect_us(), 0u);
}

TEST_F(SshCheckTest, ResetWhenServerResets) {
  TestServer server(io_, ServerBehavior::kReset);
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_RESET) << r.detail();
  EXPECT_EQ(r.error_number(), ECONNRESET);
}

TEST_F(SshCheckTest, NotSshWhenHttpAnswers) {
  TestServer server(io_, ServerBehavior::kHttp);
  v1::CheckResult r = Run("127.0.0.1", server.port(), milliseconds(5000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << r.detail();
  EXPECT_NE(r.detail().find("HTTP/1.1 400 Bad Request"), std::string::npos) << r.detail();
  ASSERT_EQ(server.lines().size(), 1u);
  EXPECT_EQ(server.lines()[0], kIdentification);
}

TEST_F(SshCheckTest, DnsErrorForInvalidName) {
  // RFC 2606 ".invalid" never resolves. The name has a 64-byte label, which
  // the resolver library rejects before sending any query.
  std::string host = std::string(64, 'a') + ".parallax-test.invalid";
  v1::CheckResult r = Run(host, 22, milliseconds(10000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_DNS_ERROR) << r.detail();
  EXPECT_NE(r.detail().find(host), std::string::npos) << r.detail();
  EXPECT_EQ(r.address(), "");
}

TEST_F(SshCheckTest, DnsErrorForEmptyHost) {
  v1::CheckResult r = Run("", 22, milliseconds(1000));
  EXPECT_EQ(r.outcome(), v1::OUTCOME_DNS_ERROR);
  EXPECT_EQ(r.detail(), "empty host name");
}

TEST_F(SshCheckTest, TimeoutWhenConnectIsNeverAnswered) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  milliseconds took;
  v1::CheckResult r = Run("127.0.0.1", listener.port(), milliseconds(300), &took);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_TIMEOUT) << r.detail();
  EXPECT_EQ(r.detail(), "connect timed out");
  EXPECT_EQ(r.connect_us(), 0u);
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(3000));
}

TEST_F(SshCheckTest, CancelAfterDoneIsANoOp) {
  TestServer server(io_, ServerBehavior::kSsh);
  auto check = SshCheck::Create(io_, {"127.0.0.1", server.port(), kIdentification});
  int done = 0;
  check->Start([&] { ++done; });
  for (int i = 0; i < 250 && done == 0; ++i) io_.run_for(milliseconds(20));
  check->Cancel();
  io_.run_for(milliseconds(50));
  EXPECT_EQ(done, 1);
  EXPECT_EQ(check->result().outcome(), v1::OUTCOME_OK);
}

}  // namespace
}  // namespace parallax::probe
