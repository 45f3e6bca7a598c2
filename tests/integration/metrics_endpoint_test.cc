// /metrics hardening between real processes: idle half-open clients cannot
// starve the endpoint (worker pool, request timeout), and optional basic auth
// refuses scrapes without the password.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The whole response (status line, headers, body) to a raw request.
std::string Raw(int port, const std::string& request) {
  int fd = Connect(port);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssize_t ignored = write(fd, request.data(), request.size());
  (void)ignored;
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, n);
  close(fd);
  return resp;
}

TEST(MetricsEndpoint, AnswersWithTenIdleHalfOpenClients) {
  TempDir dir;
  Cluster cluster(dir);
  cluster.Configure({}, "1s", "500ms", "metrics:\n  request_timeout: 2s\n");
  cluster.StartCollector();
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {
    int fd = Connect(cluster.metrics_port());
    ASSERT_GE(fd, 0);
    // Half a request, then silence.
    ssize_t ignored = write(fd, "GET /metrics HTTP/1.1\r\n", 23);
    (void)ignored;
    idle.push_back(fd);
  }
  // Every scrape is answered (HttpGet gives up after 5 s) while they idle.
  for (int i = 0; i < 3; ++i) {
    std::string text = cluster.Metrics();
    EXPECT_NE(text.find("parallax_config_generation"), std::string::npos) << "scrape " << i;
  }
  // And the idle clients are dropped after the request timeout.
  timeval tv{15, 0};
  setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[512];
  ssize_t n;
  while ((n = read(idle[0], buf, sizeof(buf))) > 0) {
  }
  EXPECT_EQ(n, 0) << "the idle client was not disconnected";
  for (int fd : idle) close(fd);
}

TEST(MetricsEndpoint, BasicAuthWhenConfigured) {
  TempDir dir;
  Cluster cluster(dir);
  cluster.Configure({}, "1s", "500ms",
                    "metrics:\n  basic_auth: {user: prom, password: s3cret-pass}\n");
  Process collector({CollectorBinary(), "--config", cluster.config_path(), "--insecure"},
                    dir.File("collector.log"));
  std::string ok;
  // prom:s3cret-pass
  const std::string auth = "Authorization: Basic cHJvbTpzM2NyZXQtcGFzcw==\r\n";
  ASSERT_TRUE(WaitFor(
      [&] {
        ok = Raw(cluster.metrics_port(), "GET /metrics HTTP/1.0\r\n" + auth + "\r\n");
        return ok.find("parallax_config_generation") != std::string::npos;
      },
      seconds(15)))
      << ok << collector.log();
  std::string denied = Raw(cluster.metrics_port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_NE(denied.find(" 401 "), std::string::npos) << denied;
  EXPECT_EQ(denied.find("parallax_"), std::string::npos) << denied;
  std::string wrong = Raw(cluster.metrics_port(),
                          "GET /metrics HTTP/1.0\r\nAuthorization: Basic cHJvbTp3cm9uZw==\r\n\r\n");
  EXPECT_NE(wrong.find(" 401 "), std::string::npos) << wrong;
}

}  // namespace
}  // namespace parallax::testing
