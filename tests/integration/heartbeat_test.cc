// Heartbeats (spool size, drops, checks in flight) reach the collector every
// 5 s while results flow all the time: a busy probe is the one whose spool
// matters. Before this was fixed a probe sent them only when idle, and a
// probe with many targets never was.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

TEST(Heartbeat, ComeEveryFiveSecondsWhileResultsFlow) {
  TempDir dir;
  const int closed = ClosedPort();
  // 50 targets every 100 ms: ~500 results/s, a batch in every linger.
  std::vector<TargetSpec> targets;
  for (int i = 0; i < 50; ++i)
    targets.push_back({"closed-" + std::to_string(i), "127.0.0.1", closed});
  Cluster cluster(dir);
  cluster.Configure(targets, "100ms", "80ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});

  const std::string series = "parallax_probe_last_heartbeat_timestamp_seconds{probe=\"p1\"}";
  const std::string checks =
      "parallax_check_total{outcome=\"refused\",probe=\"p1\",target=\"closed-0\"}";
  double first = NAN, first_checks = NAN;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string m = cluster.Metrics();
        first = MetricValue(m, series);
        first_checks = MetricValue(m, checks);
        return !std::isnan(first) && !std::isnan(first_checks);
      },
      seconds(20)))
      << cluster.Metrics() << "\nprobe:\n"
      << cluster.probe("p1")->log();
  // Two more heartbeats (5 s apart) while the results keep flowing.
  double later = first, later_checks = first_checks;
  bool advanced = WaitFor(
      [&] {
        std::string m = cluster.Metrics();
        later = MetricValue(m, series);
        later_checks = MetricValue(m, checks);
        return later >= first + 8;
      },
      seconds(25));
  EXPECT_TRUE(advanced) << "last heartbeat stayed at " << first << " (now " << later << ")\n"
                        << cluster.probe("p1")->log();
  EXPECT_GT(later_checks, first_checks + 50) << "results did not flow meanwhile";
  std::printf("last heartbeat advanced %.1f s; %.0f checks of closed-0 meanwhile\n", later - first,
              later_checks - first_checks);
}

// A listener that never accepts: connects complete in the kernel and nothing
// is ever sent, so every check to it waits for its deadline (banner_timeout).
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 1024) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// An overloaded probe (40 checks due per second, one slot, each check held
// 400 ms by a server that never answers) says so: its heartbeats carry how
// late it runs (parallax_probe_check_late_seconds, the alert
// ParallaxProbeOverloaded's input) and its log names the remedy.
TEST(Heartbeat, AnOverloadedProbeSaysHowLateItRuns) {
  TempDir dir;
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  std::vector<TargetSpec> targets;
  for (int i = 0; i < 20; ++i)
    targets.push_back({"slow-" + std::to_string(i), "127.0.0.1", silent.port()});
  Cluster cluster(dir);
  cluster.Configure(targets, "500ms", "400ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}}, {"--insecure", "--max-in-flight", "1"});

  const std::string late = "parallax_probe_check_late_seconds{probe=\"p1\"}";
  double value = NAN;
  ASSERT_TRUE(WaitFor(
      [&] {
        value = MetricValue(cluster.Metrics(), late);
        return value > 1;
      },
      seconds(30)))
      << late << " = " << value << "\n"
      << cluster.Metrics() << "\nprobe:\n"
      << cluster.probe("p1")->log();
  EXPECT_TRUE(WaitFor(
      [&] { return cluster.probe("p1")->log().find("probe overloaded") != std::string::npos; },
      seconds(5)))
      << cluster.probe("p1")->log();
  EXPECT_NE(cluster.probe("p1")->log().find("(in flight 1 of --max-in-flight 1, "),
            std::string::npos)
      << cluster.probe("p1")->log();
  std::string log = cluster.probe("p1")->log();
  size_t at = log.rfind('\n', log.find("probe overloaded"));
  size_t end = log.find('\n', log.find("probe overloaded"));
  std::printf("an overloaded probe: %s = %.1f\n%s\n", late.c_str(), value,
              log.substr(at == std::string::npos ? 0 : at + 1,
                         end == std::string::npos ? std::string::npos : end - at - 1)
                  .c_str());
}

}  // namespace
}  // namespace parallax::testing
