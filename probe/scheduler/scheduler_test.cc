#include "probe/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "common/version.h"
#include "probe/checks/test_server.h"
#include "probe/scheduler/schedule_queue.h"

namespace parallax::probe {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::ServerBehavior;
using testing::TestServer;

constexpr char kProbe[] = "probe-test";

v1::Target MakeTarget(const std::string& name, uint16_t port, uint32_t interval_ms,
                      uint32_t timeout_ms) {
  v1::Target t;
  t.set_name(name);
  t.set_host("127.0.0.1");
  t.set_port(port);
  t.set_interval_ms(interval_ms);
  t.set_timeout_ms(timeout_ms);
  return t;
}

struct Seen {
  v1::CheckResult result;
  Clock::time_point at;  // when the sink got it
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest()
      : scheduler_(io_, {kProbe, "SSH-2.0-parallax_probe_test", 4096}, [this](v1::CheckResult&& r) {
          seen_.push_back({std::move(r), Clock::now()});
        }) {}

  void MakeScheduler(size_t max_in_flight) {
    custom_ = std::make_unique<Scheduler>(
        io_, SchedulerOptions{kProbe, "SSH-2.0-parallax_probe_test", max_in_flight},
        [this](v1::CheckResult&& r) {
          seen_.push_back({std::move(r), Clock::now()});
        });
  }
  Scheduler& scheduler() { return custom_ ? *custom_ : scheduler_; }

  // Stopping cancels the checks in flight; their completions are posted to
  // io_ and must run, or each check and its run keep each other alive
  // (LeakSanitizer found that in the asan build).
  void TearDown() override {
    if (custom_) custom_->Stop();
    scheduler_.Stop();
    io_.restart();
    io_.poll();
  }

  // Runs the io_context for `d`, in slices, calling `each` after every slice.
  template <typename F>
  void RunFor(milliseconds d, F each) {
    auto end = Clock::now() + d;
    for (int i = 0; i < 10000 && Clock::now() < end; ++i) {
      io_.run_for(milliseconds(5));
      each();
    }
  }
  void RunFor(milliseconds d) {
    RunFor(d, [] {});
  }

  std::vector<Seen> For(const std::string& target) const {
    std::vector<Seen> out;
    for (const auto& s : seen_) {
      if (s.result.target() == target) out.push_back(s);
    }
    return out;
  }

  boost::asio::io_context io_;
  std::vector<Seen> seen_;
  Scheduler scheduler_;
  std::unique_ptr<Scheduler> custom_;
};

TEST_F(SchedulerTest, RunsAtIntervalWithStableJitter) {
  TestServer server(io_, ServerBehavior::kSsh);
  const milliseconds interval(300);
  v1::Assignment a;
  a.set_generation(7);
  *a.add_targets() = MakeTarget("web1", server.port(), interval.count(), 1000);
  auto start = Clock::now();
  scheduler().SetAssignment(a);
  RunFor(milliseconds(1500));
  std::vector<Seen> s = For("web1");
  ASSERT_GE(s.size(), 4u);
  ASSERT_LE(s.size(), 6u);
  // First run at start + the stable jitter offset, within the interval.
  milliseconds offset = JitterOffset(kProbe, "web1", interval);
  EXPECT_LT(offset, interval);
  EXPECT_GE(s[0].at, start + offset);
  EXPECT_LT(s[0].at, start + offset + milliseconds(150));
  for (size_t i = 1; i < s.size(); ++i) {
    auto gap = std::chrono::duration_cast<milliseconds>(s[i].at - s[i - 1].at);
    EXPECT_GT(gap, milliseconds(200)) << i;
    EXPECT_LT(gap, milliseconds(400)) << i;
  }
  for (const auto& x : s) {
    EXPECT_EQ(x.result.outcome(), v1::OUTCOME_OK) << x.result.detail();
    EXPECT_EQ(x.result.generation(), 7u);
    EXPECT_EQ(x.result.identification(), "SSH-2.0-TestServer_1.0");
    EXPECT_LT(x.result.late_us(), 100000u);
    EXPECT_EQ(x.result.seq(), 0u);  // the sink assigns seq
  }
  SchedulerStats st = scheduler().stats();
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.checks_done, s.size());
  EXPECT_EQ(st.generation, 7u);
  // Our identification reached the server on every connection.
  ASSERT_FALSE(server.lines().empty());
  for (const auto& line : server.lines()) EXPECT_EQ(line, "SSH-2.0-parallax_probe_test");
}

TEST_F(SchedulerTest, CapsInFlightAndRecordsLateness) {
  TestServer server(io_, ServerBehavior::kSilent);
  MakeScheduler(5);
  v1::Assignment a;
  for (int i = 0; i < 20; ++i) {
    *a.add_targets() = MakeTarget("t" + std::to_string(i), server.port(), 200, 400);
  }
  scheduler().SetAssignment(a);
  uint32_t max_in_flight = 0, max_waiting = 0;
  RunFor(milliseconds(4000), [&] {
    SchedulerStats st = scheduler().stats();
    max_in_flight = std::max(max_in_flight, st.in_flight);
    max_waiting = std::max(max_waiting, st.waiting);
  });
  EXPECT_EQ(max_in_flight, 5u);
  EXPECT_GE(max_waiting, 10u);
  std::set<std::string> targets;
  uint32_t max_late = 0;
  for (const auto& s : seen_) {
    targets.insert(s.result.target());
    EXPECT_EQ(s.result.outcome(), v1::OUTCOME_BANNER_TIMEOUT) << s.result.detail();
    max_late = std::max(max_late, s.result.late_us());
  }
  EXPECT_EQ(targets.size(), 20u);  // everyone got a turn, in due order
  EXPECT_GE(max_late, 1000000u);   // the 4th wave waited for three 400 ms waves
  EXPECT_GE(scheduler().stats().max_late_us, 1000000u);
  EXPECT_GT(scheduler().stats().runs_skipped, 0u);
}

TEST_F(SchedulerTest, DeadlineGivesBannerTimeoutAtAboutTheTimeout) {
  TestServer server(io_, ServerBehavior::kSilent);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("silent", server.port(), 2000, 300);
  auto start = Clock::now();
  scheduler().SetAssignment(a);
  milliseconds offset = JitterOffset(kProbe, "silent", milliseconds(2000));
  RunFor(offset + milliseconds(1000));
  std::vector<Seen> s = For("silent");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].result.outcome(), v1::OUTCOME_BANNER_TIMEOUT);
  auto took = s[0].at - (start + offset);
  EXPECT_GE(took, milliseconds(295));
  EXPECT_LT(took, milliseconds(700));
}

TEST_F(SchedulerTest, ConnectTimeoutGathersLiveness) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  TestServer open_port(io_, ServerBehavior::kSilent);
  v1::Assignment a;
  v1::Target t = MakeTarget("filtered", listener.port(), 2000, 300);
  t.add_liveness_ports(open_port.port());
  *a.add_targets() = t;
  scheduler().SetAssignment(a);
  milliseconds offset = JitterOffset(kProbe, "filtered", milliseconds(2000));
  RunFor(offset + milliseconds(1200));
  std::vector<Seen> s = For("filtered");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].result.outcome(), v1::OUTCOME_TIMEOUT);
  ASSERT_EQ(s[0].result.liveness().ports_size(), 1);
  EXPECT_EQ(s[0].result.liveness().ports(0).outcome(), v1::OUTCOME_OK);
}

TEST_F(SchedulerTest, PingBudgetSkipsIcmpButStillChecksPorts) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  TestServer open_port(io_, ServerBehavior::kSilent);
  SchedulerOptions options{kProbe, "SSH-2.0-parallax_probe_test", 4096};
  options.max_icmp_in_flight = 0;
  custom_ = std::make_unique<Scheduler>(io_, options, [this](v1::CheckResult&& r) {
    seen_.push_back({std::move(r), Clock::now()});
  });
  v1::Assignment a;
  v1::Target t = MakeTarget("filtered", listener.port(), 2000, 300);
  t.add_liveness_ports(open_port.port());
  *a.add_targets() = t;
  scheduler().SetAssignment(a);
  RunFor(JitterOffset(kProbe, "filtered", milliseconds(2000)) + milliseconds(1200));
  std::vector<Seen> s = For("filtered");
  ASSERT_EQ(s.size(), 1u);
  const v1::Liveness& l = s[0].result.liveness();
  EXPECT_FALSE(l.icmp_attempted());
  EXPECT_NE(l.icmp_error().find("skipped: 0 pings already in flight"), std::string::npos)
      << l.DebugString();
  ASSERT_EQ(l.ports_size(), 1);
  EXPECT_EQ(l.ports(0).outcome(), v1::OUTCOME_OK);
}

TEST_F(SchedulerTest, PingBudgetSpentAndNoPortsStillReportsTheResult) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  SchedulerOptions options{kProbe, "SSH-2.0-parallax_probe_test", 4096};
  options.max_icmp_in_flight = 0;
  custom_ = std::make_unique<Scheduler>(io_, options, [this](v1::CheckResult&& r) {
    seen_.push_back({std::move(r), Clock::now()});
  });
  v1::Assignment a;
  *a.add_targets() = MakeTarget("filtered", listener.port(), 2000, 300);
  scheduler().SetAssignment(a);
  RunFor(JitterOffset(kProbe, "filtered", milliseconds(2000)) + milliseconds(1200));
  std::vector<Seen> s = For("filtered");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].result.outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_NE(s[0].result.liveness().icmp_error().find("skipped"), std::string::npos);
}

TEST_F(SchedulerTest, SetAssignmentKeepsPhaseAddsAndRemoves) {
  TestServer server(io_, ServerBehavior::kSsh);
  const uint32_t interval = 200;
  v1::Assignment a;
  a.set_generation(1);
  *a.add_targets() = MakeTarget("a", server.port(), interval, 1000);
  *a.add_targets() = MakeTarget("b", server.port(), interval, 1000);
  scheduler().SetAssignment(a);
  RunFor(milliseconds(700));
  size_t a_before = For("a").size();
  EXPECT_GE(a_before, 2u);

  v1::Assignment next;
  next.set_generation(2);
  v1::Target b = MakeTarget("b", server.port(), interval, 900);  // new timeout only
  *next.add_targets() = b;
  *next.add_targets() = MakeTarget("c", server.port(), interval, 1000);
  auto changed = Clock::now();
  scheduler().SetAssignment(next);
  EXPECT_EQ(scheduler().stats().targets, 2u);
  RunFor(milliseconds(700));

  // "a" stopped (a run in flight at the change would still be reported, with generation 1).
  for (const auto& s : For("a")) {
    EXPECT_EQ(s.result.generation(), 1u);
    EXPECT_LT(s.at, changed + milliseconds(50));
  }
  // "c" started under generation 2.
  std::vector<Seen> c = For("c");
  ASSERT_GE(c.size(), 2u);
  for (const auto& s : c) EXPECT_EQ(s.result.generation(), 2u);
  // "b" went on in its phase: every run is a whole number of intervals after its first.
  std::vector<Seen> bs = For("b");
  ASSERT_GE(bs.size(), 6u);
  EXPECT_EQ(bs.back().result.generation(), 2u);
  for (const auto& s : bs) {
    auto since = std::chrono::duration_cast<milliseconds>(s.at - bs[0].at).count();
    int64_t off = since % interval;
    EXPECT_TRUE(off < 40 || off > interval - 40) << "run " << since << " ms after the first";
  }

  // Removing everything stops all runs.
  v1::Assignment none;
  none.set_generation(3);
  scheduler().SetAssignment(none);
  RunFor(milliseconds(50));  // let a run in flight finish
  size_t total = seen_.size();
  RunFor(milliseconds(500));
  EXPECT_EQ(seen_.size(), total);
  EXPECT_EQ(scheduler().stats().targets, 0u);
  EXPECT_EQ(scheduler().stats().in_flight, 0u);
}

TEST_F(SchedulerTest, ChangedHostOrPortRestartsTheTarget) {
  TestServer first(io_, ServerBehavior::kSsh, "SSH-2.0-first\r\n");
  TestServer second(io_, ServerBehavior::kSsh, "SSH-2.0-second\r\n");
  v1::Assignment a;
  a.set_generation(1);
  *a.add_targets() = MakeTarget("x", first.port(), 200, 1000);
  scheduler().SetAssignment(a);
  RunFor(milliseconds(450));
  a.set_generation(2);
  a.mutable_targets(0)->set_port(second.port());
  scheduler().SetAssignment(a);
  RunFor(milliseconds(450));
  std::vector<Seen> s = For("x");
  ASSERT_GE(s.size(), 3u);
  EXPECT_EQ(s.front().result.identification(), "SSH-2.0-first");
  EXPECT_EQ(s.back().result.identification(), "SSH-2.0-second");
  EXPECT_EQ(s.back().result.generation(), 2u);
}

TEST_F(SchedulerTest, InvalidTargetsAreSkippedOthersRun) {
  TestServer server(io_, ServerBehavior::kSsh);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("good", server.port(), 200, 1000);
  *a.add_targets() = MakeTarget("badport", 0, 200, 1000);
  *a.add_targets() = MakeTarget("fast", server.port(), 1, 1000);
  *a.add_targets() = MakeTarget("good", server.port(), 200, 1000);  // duplicate name
  scheduler().SetAssignment(a);
  EXPECT_EQ(scheduler().stats().targets, 1u);
  EXPECT_EQ(scheduler().stats().targets_rejected, 3u);
  RunFor(milliseconds(500));
  EXPECT_GE(For("good").size(), 1u);
  EXPECT_EQ(seen_.size(), For("good").size());
}

TEST_F(SchedulerTest, StopCancelsInFlightAndDropsTheirResults) {
  TestServer server(io_, ServerBehavior::kSilent);
  v1::Assignment a;
  for (int i = 0; i < 5; ++i) {
    *a.add_targets() = MakeTarget("s" + std::to_string(i), server.port(), 200, 5000);
  }
  scheduler().SetAssignment(a);
  RunFor(milliseconds(400));
  EXPECT_EQ(scheduler().stats().in_flight, 5u);
  scheduler().Stop();
  RunFor(milliseconds(300));
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(scheduler().stats().in_flight, 0u);
  EXPECT_EQ(scheduler().stats().checks_started, 5u);
  scheduler().SetAssignment(a);  // ignored after Stop
  RunFor(milliseconds(300));
  EXPECT_EQ(scheduler().stats().checks_started, 5u);
}

TEST_F(SchedulerTest, TenThousandTargetsAreCheap) {
  uint16_t closed = testing::ClosedPort();
  v1::Assignment a;
  for (int i = 0; i < 10000; ++i) {
    *a.add_targets() = MakeTarget("t" + std::to_string(i), closed, 3600 * 1000, 1000);
  }
  scheduler().SetAssignment(a);
  EXPECT_EQ(scheduler().stats().targets, 10000u);
  RunFor(milliseconds(200));
  // Spread over an hour: only a handful are due in the first 200 ms.
  EXPECT_LT(scheduler().stats().checks_started, 50u);
  for (const auto& s : seen_) EXPECT_EQ(s.result.outcome(), v1::OUTCOME_REFUSED);
  scheduler().SetAssignment(a);  // an unchanged assignment changes nothing
  EXPECT_EQ(scheduler().stats().targets, 10000u);
}

TEST_F(SchedulerTest, DestroyWithChecksInFlightIsSafe) {
  TestServer server(io_, ServerBehavior::kSilent);
  int results = 0;
  {
    Scheduler s(io_, {kProbe, "", 10}, [&](v1::CheckResult&&) { ++results; });
    v1::Assignment a;
    *a.add_targets() = MakeTarget("x", server.port(), 100, 5000);
    s.SetAssignment(a);
    RunFor(milliseconds(300));
    EXPECT_EQ(s.stats().in_flight, 1u);
  }
  RunFor(milliseconds(200));
  EXPECT_EQ(results, 0);
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(SchedulerTest, EmptyIdentificationUsesTheDefault) {
  TestServer server(io_, ServerBehavior::kSsh);
  Scheduler s(io_, {kProbe, "", 10}, [](v1::CheckResult&&) {});
  v1::Assignment a;
  *a.add_targets() = MakeTarget("x", server.port(), 100, 1000);
  s.SetAssignment(a);
  RunFor(milliseconds(300));
  s.Stop();
  ASSERT_FALSE(server.lines().empty());
  EXPECT_EQ(server.lines()[0], "SSH-2.0-parallax_probe_" PARALLAX_VERSION);
}

}  // namespace
}  // namespace parallax::probe
