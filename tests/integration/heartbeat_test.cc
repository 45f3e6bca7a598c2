// Heartbeats (spool size, drops, checks in flight) reach the collector every
// 5 s while results flow all the time: a busy probe is the one whose spool
// matters. Before this was fixed a probe sent them only when idle, and a
// probe with many targets never was.
#include <gtest/gtest.h>

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
  std::printf("last heartbeat advanced %.1f s; %.0f checks of closed-0 meanwhile\n",
              later - first, later_checks - first_checks);
}

}  // namespace
}  // namespace parallax::testing
