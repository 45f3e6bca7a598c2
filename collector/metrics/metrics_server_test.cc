// MetricsServer over a real socket on loopback: the rendered text with its
// content type, HEAD, 404 for other paths, 405 for other methods, basic
// auth (401 without or with wrong credentials), a port that is taken.
#include "collector/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace parallax::collector {
namespace {

// One HTTP/1.0 exchange; returns the whole response ("" if no connection).
std::string Exchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

constexpr char kHead[] = "# TYPE parallax_up gauge\nparallax_up 1\n";

std::string Get(int port, const std::string& path, const std::string& extra = "") {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
}

// One plain server and one with basic auth for the whole suite: stopping a
// civetweb server takes ~2 s (its threads' poll quantum), so the two are
// started once and stopped together.
class MetricsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    big_.assign(3 << 20, '#');  // 3 MiB: several writes
    big_ += "\n";
    plain_ = StartOne("", "");
    auth_ = StartOne("prom", "s3cret");
  }
  static void TearDownTestSuite() {
    std::thread stop([] { plain_.reset(); });
    auth_.reset();
    stop.join();
  }
  static std::unique_ptr<MetricsServer> StartOne(const std::string& user,
                                                 const std::string& password) {
    MetricsServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.basic_auth_user = user;
    o.basic_auth_password = password;
    std::unique_ptr<MetricsServer> server;
    Status s = MetricsServer::Start(
        o,
        [](std::string* out) {
          ++renders_;
          out->append(kHead);
          out->append(big_);
        },
        &server);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return server;
  }
  static int PlainPort() { return plain_->ports().at(0); }
  static int AuthPort() { return auth_->ports().at(0); }

  static inline std::unique_ptr<MetricsServer> plain_, auth_;
  static inline std::atomic<int> renders_{0};
  static inline std::string big_;
};

TEST_F(MetricsServerTest, ServesTheRenderedTextWithItsContentType) {
  const int before = renders_.load();
  std::string r = Get(PlainPort(), "/metrics");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r.substr(0, 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  const size_t size = big_.size() + std::string(kHead).size();
  EXPECT_NE(r.find("Content-Length: " + std::to_string(size) + "\r\n"), std::string::npos);
  const size_t body = r.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(r.substr(body + 4), kHead + big_);
  EXPECT_EQ(renders_.load(), before + 1);
}

TEST_F(MetricsServerTest, HeadHasNoBodyOtherPathsAndMethodsAreRefused) {
  std::string head = Exchange(PlainPort(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  EXPECT_NE(Get(PlainPort(), "/").find(" 404 "), std::string::npos);
  EXPECT_NE(Get(PlainPort(), "/metricsx").find(" 404 "), std::string::npos);
  std::string post =
      Exchange(PlainPort(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_NE(post.find(" 405 "), std::string::npos) << post;
}

TEST_F(MetricsServerTest, BasicAuthRefusesWithoutTheRightCredentials) {
  const int before = renders_.load();
  std::string none = Get(AuthPort(), "/metrics");
  EXPECT_NE(none.find(" 401 "), std::string::npos) << none;
  EXPECT_NE(none.find("WWW-Authenticate: Basic realm=\"parallax-collector\""), std::string::npos);
  // prom:wrong
  EXPECT_NE(Get(AuthPort(), "/metrics", "Authorization: Basic cHJvbTp3cm9uZw==\r\n").find(" 401 "),
            std::string::npos);
  // prom:s3cret
  std::string ok = Get(AuthPort(), "/metrics", "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_EQ(renders_.load(), before + 1);  // refused requests render nothing
}

TEST(MetricsServerParse, BasicAuthHeader) {
  std::string u, p;
  EXPECT_TRUE(MetricsServer::ParseBasicAuth("Basic dXNlcjpwYTpzcw==", &u, &p));
  EXPECT_EQ(u, "user");
  EXPECT_EQ(p, "pa:ss");
  EXPECT_TRUE(MetricsServer::ParseBasicAuth("basic dXNlcjpwYTpzcw", &u, &p));
  EXPECT_FALSE(MetricsServer::ParseBasicAuth("Bearer dXNlcjpwYTpzcw==", &u, &p));
  EXPECT_FALSE(MetricsServer::ParseBasicAuth("Basic !!!", &u, &p));
  EXPECT_FALSE(MetricsServer::ParseBasicAuth("Basic dXNlcg==", &u, &p));  // "user": no colon
}

TEST(MetricsServerListen, ATakenPortIsAnErrorNamingTheAddress) {
  std::unique_ptr<MetricsServer> first, second;
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  ASSERT_TRUE(MetricsServer::Start(
                  o, [](std::string*) {}, &first)
                  .ok());
  o.listen = "127.0.0.1:" + std::to_string(first->ports().at(0));
  Status s = MetricsServer::Start(
      o, [](std::string*) {}, &second);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("metrics_listen \"" + o.listen + "\""), std::string::npos)
      << s.ToString();
}

}  // namespace
}  // namespace parallax::collector
