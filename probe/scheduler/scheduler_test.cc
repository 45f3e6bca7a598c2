// The scheduler on simulated time (scheduler_clock.h): the schedule is
// checked to the millisecond without sleeping. Fake checks take a set
// simulated time; the tests of what real checks add (deadlines, liveness, the
// identification sent) run real CheckRuns against loopback servers, with the
// simulated clock jumping straight to the due time.
#include "probe/scheduler/scheduler.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "common/version.h"
#include "probe/checks/icmp_receiver.h"
#include "probe/checks/test_server.h"
#include "probe/scheduler/schedule_queue.h"
#include "probe/scheduler/scheduler_clock.h"

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
  Clock::time_point at;  // simulated time when the sink got it
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : clock_(io_) {}

  // How a fake check behaves: it takes `takes` of simulated time and returns
  // `outcome` (identification "SSH-2.0-port<port>" when ok). Cancelled, it
  // reports a timeout at once (like a CheckRun's deadline outcome).
  struct Fake {
    v1::Outcome outcome = v1::OUTCOME_OK;
    milliseconds takes{10};
  };

  SchedulerSeams FakeSeams() {
    SchedulerSeams seams;
    seams.clock = &clock_;
    seams.run_check = [this](const v1::Target& target, SchedulerSeams::Done done) {
      struct Run {
        SchedulerSeams::Done done;
        bool finished = false;
      };
      auto run = std::make_shared<Run>();
      run->done = std::move(done);
      auto finish = [run](v1::CheckResult r) {
        if (run->finished) return;
        run->finished = true;
        run->done(std::move(r));
      };
      v1::CheckResult r;
      r.set_outcome(fake_.outcome);
      if (fake_.outcome == v1::OUTCOME_OK) {
        r.set_identification("SSH-2.0-port" + std::to_string(target.port()));
      }
      ++fake_started_;
      clock_.At(clock_.Now() + fake_.takes, [finish, r] { finish(r); });
      return std::function<void()>([this, finish] {
        v1::CheckResult timeout;
        timeout.set_outcome(v1::OUTCOME_TIMEOUT);
        boost::asio::post(io_, [finish, timeout] { finish(timeout); });
      });
    };
    return seams;
  }

  Scheduler::Sink Sink() {
    return [this](v1::CheckResult&& r) { seen_.push_back({std::move(r), clock_.Now()}); };
  }

  // A scheduler with fake checks (or real ones: SchedulerSeams{&clock_}).
  Scheduler& Make(size_t max_in_flight = 4096, bool real_checks = false,
                  std::string identification = "SSH-2.0-parallax_probe_test") {
    SchedulerOptions options{kProbe, identification, max_in_flight};
    options.max_icmp_in_flight = max_icmp_;
    options.shared_icmp = shared_icmp_;
    SchedulerSeams seams = real_checks ? SchedulerSeams{&clock_, nullptr} : FakeSeams();
    scheduler_ = std::make_unique<Scheduler>(io_, options, Sink(), seams);
    return *scheduler_;
  }

  // Stopping cancels the checks in flight; their completions are posted to
  // io_ and must run, or each check and its run keep each other alive
  // (LeakSanitizer found that in the asan build).
  void TearDown() override {
    if (scheduler_) scheduler_->Stop();
    io_.restart();
    io_.poll();
  }

  // Advances simulated time by `d` in `step`s, calling `each` after every step.
  template <typename F>
  void Advance(milliseconds d, milliseconds step, F each) {
    for (milliseconds t(0); t < d; t += step) {
      clock_.Advance(std::min(step, d - t));
      each();
    }
  }

  // Real checks: runs the io_context (real time, bounded) until `done`.
  template <typename F>
  bool RunRealUntil(F done, milliseconds bound = milliseconds(5000)) {
    auto end = Clock::now() + bound;
    while (!done() && Clock::now() < end) {
      io_.restart();
      io_.run_for(milliseconds(5));
    }
    return done();
  }

  std::vector<Seen> For(const std::string& target) const {
    std::vector<Seen> out;
    for (const auto& s : seen_) {
      if (s.result.target() == target) out.push_back(s);
    }
    return out;
  }

  boost::asio::io_context io_;
  SimulatedClock clock_;
  Fake fake_;
  int fake_started_ = 0;
  size_t max_icmp_ = 256;
  bool shared_icmp_ = true;
  std::vector<Seen> seen_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, RunsAtIntervalWithStableJitter) {
  Scheduler& s = Make();
  const milliseconds interval(300);
  v1::Assignment a;
  a.set_generation(7);
  *a.add_targets() = MakeTarget("web1", 2222, interval.count(), 1000);
  const Clock::time_point start = clock_.Now();
  s.SetAssignment(a);
  clock_.Advance(milliseconds(1500));
  // First run at start + the stable jitter offset, within the interval; then
  // one every interval, exactly; each result 10 ms (the fake's time) later.
  milliseconds offset = JitterOffset(kProbe, "web1", interval);
  EXPECT_LT(offset, interval);
  std::vector<Seen> seen = For("web1");
  size_t want =
      static_cast<size_t>((milliseconds(1500) - offset - milliseconds(10)) / interval) + 1;
  ASSERT_EQ(seen.size(), want);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].at, start + offset + i * interval + milliseconds(10)) << i;
    EXPECT_EQ(seen[i].result.outcome(), v1::OUTCOME_OK);
    EXPECT_EQ(seen[i].result.generation(), 7u);
    EXPECT_EQ(seen[i].result.identification(), "SSH-2.0-port2222");
    EXPECT_EQ(seen[i].result.late_us(), 0u);
    EXPECT_EQ(seen[i].result.seq(), 0u);  // the sink assigns seq
  }
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.checks_done, seen.size());
  EXPECT_EQ(st.generation, 7u);
  EXPECT_EQ(st.runs_skipped, 0u);
  EXPECT_EQ(st.recent_late_us, 0u);  // on time
  EXPECT_EQ(st.late_starts, 0u);
}

TEST_F(SchedulerTest, CapsInFlightAndRecordsLateness) {
  Scheduler& s = Make(5);
  fake_ = {v1::OUTCOME_BANNER_TIMEOUT, milliseconds(400)};
  v1::Assignment a;
  for (int i = 0; i < 20; ++i) *a.add_targets() = MakeTarget("t" + std::to_string(i), 22, 200, 400);
  s.SetAssignment(a);
  uint32_t max_in_flight = 0, max_waiting = 0;
  Advance(milliseconds(4000), milliseconds(10), [&] {
    SchedulerStats st = s.stats();
    max_in_flight = std::max(max_in_flight, st.in_flight);
    max_waiting = std::max(max_waiting, st.waiting);
  });
  EXPECT_EQ(max_in_flight, 5u);
  EXPECT_GE(max_waiting, 10u);
  std::set<std::string> targets;
  uint32_t max_late = 0;
  for (const auto& x : seen_) {
    targets.insert(x.result.target());
    EXPECT_EQ(x.result.outcome(), v1::OUTCOME_BANNER_TIMEOUT);
    max_late = std::max(max_late, x.result.late_us());
  }
  EXPECT_EQ(targets.size(), 20u);  // everyone got a turn, in due order
  EXPECT_GE(max_late, 1000000u);   // the 4th wave waited for three 400 ms waves
  EXPECT_GE(s.stats().max_late_us, 1000000u);
  EXPECT_GT(s.stats().runs_skipped, 0u);
}

// An overloaded probe (10 checks due per second, 2 slots, each check 1 s):
// stats say how late it runs, it warns once a minute, and once it has less
// to do the lateness goes back to 0 within the 10 s window.
TEST_F(SchedulerTest, AnOverloadedProbeSaysHowLateItRuns) {
  Scheduler& s = Make(2);
  fake_ = {v1::OUTCOME_OK, milliseconds(1000)};
  v1::Assignment a;
  for (int i = 0; i < 10; ++i)
    *a.add_targets() = MakeTarget("t" + std::to_string(i), 22, 1000, 2000);
  ::testing::internal::CaptureStderr();
  s.SetAssignment(a);
  Advance(milliseconds(8000), milliseconds(100), [] {});
  std::string log = ::testing::internal::GetCapturedStderr();
  SchedulerStats st = s.stats();
  EXPECT_GE(st.recent_late_us, 2'000'000u);  // the oldest due check waits seconds
  EXPECT_GT(st.late_starts, 0u);
  EXPECT_GE(st.max_late_us, 1'000'000u);
  // One warning in these 8 s (at most one a minute), naming the remedy.
  size_t first = log.find("probe overloaded: a check started ");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("probe overloaded", first + 1), std::string::npos) << log;
  EXPECT_NE(log.find("(in flight 2 of --max-in-flight 2, "), std::string::npos) << log;

  // One target left: on time again, and the window forgets the past.
  v1::Assignment b;
  b.set_generation(2);
  *b.add_targets() = MakeTarget("t0", 22, 1000, 2000);
  s.SetAssignment(b);
  Advance(milliseconds(15000), milliseconds(100), [] {});
  EXPECT_EQ(s.stats().recent_late_us, 0u);
  EXPECT_EQ(s.stats().waiting, 0u);
}

TEST_F(SchedulerTest, SetAssignmentKeepsPhaseAddsAndRemoves) {
  Scheduler& s = Make();
  const uint32_t interval = 200;
  v1::Assignment a;
  a.set_generation(1);
  *a.add_targets() = MakeTarget("a", 22, interval, 1000);
  *a.add_targets() = MakeTarget("b", 22, interval, 1000);
  s.SetAssignment(a);
  clock_.Advance(milliseconds(700));
  EXPECT_GE(For("a").size(), 2u);

  v1::Assignment next;
  next.set_generation(2);
  *next.add_targets() = MakeTarget("b", 22, interval, 900);  // new timeout only
  *next.add_targets() = MakeTarget("c", 22, interval, 1000);
  const Clock::time_point changed = clock_.Now();
  s.SetAssignment(next);
  EXPECT_EQ(s.stats().targets, 2u);
  clock_.Advance(milliseconds(700));

  // "a" stopped (a run in flight at the change would still be reported, with
  // generation 1, within the fake's 10 ms).
  for (const auto& x : For("a")) {
    EXPECT_EQ(x.result.generation(), 1u);
    EXPECT_LE(x.at, changed + milliseconds(10));
  }
  // "c" started under generation 2.
  std::vector<Seen> c = For("c");
  ASSERT_GE(c.size(), 3u);
  for (const auto& x : c) EXPECT_EQ(x.result.generation(), 2u);
  // "b" went on in its phase: every run a whole number of intervals after its first.
  std::vector<Seen> bs = For("b");
  ASSERT_GE(bs.size(), 6u);
  EXPECT_EQ(bs.back().result.generation(), 2u);
  for (const auto& x : bs) {
    auto since = std::chrono::duration_cast<milliseconds>(x.at - bs[0].at).count();
    EXPECT_EQ(since % interval, 0) << "run " << since << " ms after the first";
  }

  // Removing everything stops all runs.
  v1::Assignment none;
  none.set_generation(3);
  s.SetAssignment(none);
  clock_.Advance(milliseconds(10));  // a run in flight finishes
  size_t total = seen_.size();
  clock_.Advance(milliseconds(5000));
  EXPECT_EQ(seen_.size(), total);
  EXPECT_EQ(s.stats().targets, 0u);
  EXPECT_EQ(s.stats().in_flight, 0u);
}

TEST_F(SchedulerTest, ChangedHostOrPortRestartsTheTarget) {
  Scheduler& s = Make();
  v1::Assignment a;
  a.set_generation(1);
  *a.add_targets() = MakeTarget("x", 1001, 200, 1000);
  s.SetAssignment(a);
  clock_.Advance(milliseconds(450));
  a.set_generation(2);
  a.mutable_targets(0)->set_port(1002);
  s.SetAssignment(a);
  clock_.Advance(milliseconds(450));
  std::vector<Seen> seen = For("x");
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front().result.identification(), "SSH-2.0-port1001");
  EXPECT_EQ(seen.back().result.identification(), "SSH-2.0-port1002");
  EXPECT_EQ(seen.back().result.generation(), 2u);
}

TEST_F(SchedulerTest, InvalidTargetsAreSkippedOthersRun) {
  Scheduler& s = Make();
  v1::Assignment a;
  *a.add_targets() = MakeTarget("good", 22, 200, 1000);
  *a.add_targets() = MakeTarget("badport", 0, 200, 1000);
  *a.add_targets() = MakeTarget("fast", 22, 1, 1000);
  *a.add_targets() = MakeTarget("good", 22, 200, 1000);  // duplicate name
  s.SetAssignment(a);
  EXPECT_EQ(s.stats().targets, 1u);
  EXPECT_EQ(s.stats().targets_rejected, 3u);
  clock_.Advance(milliseconds(500));
  EXPECT_GE(For("good").size(), 2u);
  EXPECT_EQ(seen_.size(), For("good").size());
}

TEST_F(SchedulerTest, StopCancelsInFlightAndDropsTheirResults) {
  Scheduler& s = Make();
  fake_.takes = milliseconds(5000);
  v1::Assignment a;
  for (int i = 0; i < 5; ++i) *a.add_targets() = MakeTarget("s" + std::to_string(i), 22, 200, 5000);
  s.SetAssignment(a);
  clock_.Advance(milliseconds(400));
  EXPECT_EQ(s.stats().in_flight, 5u);
  s.Stop();
  clock_.Advance(milliseconds(10'000));
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(s.stats().in_flight, 0u);
  EXPECT_EQ(s.stats().checks_started, 5u);
  s.SetAssignment(a);  // ignored after Stop
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(s.stats().checks_started, 5u);
}

TEST_F(SchedulerTest, TenThousandTargetsAreCheapAndEachRunsOncePerInterval) {
  Scheduler& s = Make();
  v1::Assignment a;
  for (int i = 0; i < 10000; ++i) {
    *a.add_targets() = MakeTarget("t" + std::to_string(i), 22, 3600 * 1000, 1000);
  }
  s.SetAssignment(a);
  EXPECT_EQ(s.stats().targets, 10000u);
  clock_.Advance(milliseconds(200));
  // Spread over an hour: only a handful are due in the first 200 ms.
  EXPECT_LT(s.stats().checks_started, 50u);
  s.SetAssignment(a);  // an unchanged assignment changes nothing
  EXPECT_EQ(s.stats().targets, 10000u);
  // Within the hour, every target runs exactly once.
  clock_.Advance(std::chrono::hours(1) - milliseconds(201));
  EXPECT_EQ(s.stats().checks_started, 10000u);
  std::set<std::string> targets;
  for (const auto& x : seen_) targets.insert(x.result.target());
  EXPECT_EQ(targets.size(), 10000u);
}

TEST_F(SchedulerTest, DestroyWithFakeChecksInFlightIsSafe) {
  fake_.takes = milliseconds(5000);
  {
    Scheduler& s = Make(10);
    v1::Assignment a;
    *a.add_targets() = MakeTarget("x", 22, 100, 5000);
    s.SetAssignment(a);
    clock_.Advance(milliseconds(300));
    EXPECT_EQ(s.stats().in_flight, 1u);
    scheduler_.reset();
  }
  clock_.Advance(milliseconds(10'000));  // the fake finishes after the scheduler is gone
  EXPECT_TRUE(seen_.empty());
}

// Real checks from here on: the schedule is simulated, the checks are not.

TEST_F(SchedulerTest, SendsItsIdentificationOnEveryConnection) {
  TestServer server(io_, ServerBehavior::kSsh);
  Scheduler& s = Make(4096, /*real_checks=*/true);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("web1", server.port(), 300, 1000);
  s.SetAssignment(a);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(milliseconds(300));
    ASSERT_TRUE(RunRealUntil([&] { return seen_.size() >= static_cast<size_t>(i + 1); }));
  }
  for (const auto& x : seen_) {
    EXPECT_EQ(x.result.outcome(), v1::OUTCOME_OK) << x.result.detail();
    EXPECT_EQ(x.result.identification(), "SSH-2.0-TestServer_1.0");
  }
  ASSERT_FALSE(server.lines().empty());
  for (const auto& line : server.lines()) EXPECT_EQ(line, "SSH-2.0-parallax_probe_test");
}

TEST_F(SchedulerTest, DeadlineGivesBannerTimeoutAtAboutTheTimeout) {
  TestServer server(io_, ServerBehavior::kSilent);
  Scheduler& s = Make(4096, true);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("silent", server.port(), 2000, 300);
  s.SetAssignment(a);
  clock_.Advance(JitterOffset(kProbe, "silent", milliseconds(2000)));  // now due: it starts
  auto start = Clock::now();
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  auto took = Clock::now() - start;
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].result.outcome(), v1::OUTCOME_BANNER_TIMEOUT);
  EXPECT_GE(took, milliseconds(295));
  EXPECT_LT(took, milliseconds(700));
}

TEST_F(SchedulerTest, ConnectTimeoutGathersLiveness) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  TestServer open_port(io_, ServerBehavior::kSilent);
  Scheduler& s = Make(4096, true);
  v1::Assignment a;
  v1::Target t = MakeTarget("filtered", listener.port(), 2000, 300);
  t.add_liveness_ports(open_port.port());
  *a.add_targets() = t;
  s.SetAssignment(a);
  clock_.Advance(JitterOffset(kProbe, "filtered", milliseconds(2000)));
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  EXPECT_EQ(seen_[0].result.outcome(), v1::OUTCOME_TIMEOUT);
  ASSERT_EQ(seen_[0].result.liveness().ports_size(), 1);
  EXPECT_EQ(seen_[0].result.liveness().ports(0).outcome(), v1::OUTCOME_OK);
}

TEST_F(SchedulerTest, PingBudgetSkipsIcmpButStillChecksPorts) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  TestServer open_port(io_, ServerBehavior::kSilent);
  max_icmp_ = 0;
  shared_icmp_ = false;  // the cap is for pings on sockets of their own
  Scheduler& s = Make(4096, true);
  v1::Assignment a;
  v1::Target t = MakeTarget("filtered", listener.port(), 2000, 300);
  t.add_liveness_ports(open_port.port());
  *a.add_targets() = t;
  s.SetAssignment(a);
  clock_.Advance(JitterOffset(kProbe, "filtered", milliseconds(2000)));
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  const v1::Liveness& l = seen_[0].result.liveness();
  EXPECT_FALSE(l.icmp_attempted());
  EXPECT_NE(l.icmp_error().find("skipped: 0 pings already in flight"), std::string::npos)
      << l.DebugString();
  ASSERT_EQ(l.ports_size(), 1);
  EXPECT_EQ(l.ports(0).outcome(), v1::OUTCOME_OK);
}

TEST_F(SchedulerTest, PingBudgetSpentAndNoPortsStillReportsTheResult) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  max_icmp_ = 0;
  shared_icmp_ = false;
  Scheduler& s = Make(4096, true);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("filtered", listener.port(), 2000, 300);
  s.SetAssignment(a);
  clock_.Advance(JitterOffset(kProbe, "filtered", milliseconds(2000)));
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  EXPECT_EQ(seen_[0].result.outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_NE(seen_[0].result.liveness().icmp_error().find("skipped"), std::string::npos);
}

TEST_F(SchedulerTest, PingsThroughTheSharedReceiverAreNotCapped) {
  testing::FullBacklogListener listener;
  if (listener.port() == 0) GTEST_SKIP() << "could not fill a loopback accept queue here";
  {
    boost::asio::io_context probe_io;
    if (!IcmpReceiver::Open(probe_io, false)->shared(false)) {
      GTEST_SKIP() << "no raw ICMP socket here (CAP_NET_RAW)";
    }
  }
  max_icmp_ = 0;  // would skip every ping on a socket of its own
  Scheduler& s = Make(4096, true);
  v1::Assignment a;
  *a.add_targets() = MakeTarget("filtered", listener.port(), 2000, 300);
  s.SetAssignment(a);
  clock_.Advance(JitterOffset(kProbe, "filtered", milliseconds(2000)));
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  EXPECT_EQ(seen_[0].result.outcome(), v1::OUTCOME_TIMEOUT);
  const v1::Liveness& l = seen_[0].result.liveness();
  EXPECT_TRUE(l.icmp_attempted()) << l.DebugString();
  EXPECT_TRUE(l.icmp_reply()) << l.DebugString();
}

TEST_F(SchedulerTest, DestroyWithRealChecksInFlightIsSafe) {
  TestServer server(io_, ServerBehavior::kSilent);
  {
    Scheduler& s = Make(10, true, "");
    v1::Assignment a;
    *a.add_targets() = MakeTarget("x", server.port(), 100, 5000);
    s.SetAssignment(a);
    clock_.Advance(milliseconds(100));
    ASSERT_TRUE(RunRealUntil([&] { return server.accepted() == 1; }));
    EXPECT_EQ(s.stats().in_flight, 1u);
    scheduler_.reset();
  }
  RunRealUntil([] { return false; }, milliseconds(100));
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(SchedulerTest, EmptyIdentificationUsesTheDefault) {
  TestServer server(io_, ServerBehavior::kSsh);
  Scheduler& s = Make(10, true, "");
  v1::Assignment a;
  *a.add_targets() = MakeTarget("x", server.port(), 100, 1000);
  s.SetAssignment(a);
  clock_.Advance(milliseconds(100));
  ASSERT_TRUE(RunRealUntil([&] { return !seen_.empty(); }));
  s.Stop();
  ASSERT_FALSE(server.lines().empty());
  EXPECT_EQ(server.lines()[0], "SSH-2.0-parallax_probe_" PARALLAX_VERSION);
}

// Out of descriptors for real (RLIMIT_NOFILE a little above what is open):
// the checks that cannot get a socket report probe_error, never a network
// failure of their target, and new checks pause. In a child process, so the
// limit does not touch the test runner.
TEST_F(SchedulerTest, OutOfDescriptorsIsProbeErrorAndPauses) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    boost::asio::io_context io;
    TestServer server(io, ServerBehavior::kSilent);
    std::vector<v1::CheckResult> seen;
    SchedulerOptions o{kProbe, "SSH-2.0-parallax_probe_test", 4096};
    o.resource_pause = milliseconds(300);
    Scheduler s(io, o, [&](v1::CheckResult&& r) { seen.push_back(std::move(r)); });
    int open_fds = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (readdir(d) != nullptr) ++open_fds;
      closedir(d);
    }
    struct rlimit rl = {static_cast<rlim_t>(open_fds + 16), static_cast<rlim_t>(open_fds + 16)};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
    v1::Assignment a;
    for (int i = 0; i < 60; ++i) {
      *a.add_targets() = MakeTarget("t" + std::to_string(i), server.port(), 2000, 700);
    }
    s.SetAssignment(a);
    io.run_for(milliseconds(2500));
    SchedulerStats st = s.stats();
    s.Stop();
    int probe_errors = 0;
    for (const auto& r : seen) {
      if (r.outcome() == v1::OUTCOME_PROBE_ERROR) {
        ++probe_errors;
        if (r.error_number() != EMFILE) _exit(11);
      }
      if (r.outcome() == v1::OUTCOME_TIMEOUT || r.outcome() == v1::OUTCOME_NETWORK_UNREACHABLE ||
          r.outcome() == v1::OUTCOME_HOST_UNREACHABLE) {
        _exit(12);
      }
    }
    if (probe_errors == 0 || st.probe_errors != static_cast<uint64_t>(probe_errors)) _exit(13);
    if (st.pauses == 0) _exit(14);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10 setrlimit, 11 wrong errno, 12 a network outcome, 13 no probe_error, 14 no pause";
}

}  // namespace
}  // namespace parallax::probe

namespace parallax::probe {
namespace {

// `parallax check`: one run now, outside the schedule and max_in_flight,
// tagged with its id, never rescheduled; an invalid target answers at once.
TEST_F(SchedulerTest, AdHocRunsOnceNowTaggedAndLeavesTheScheduleAlone) {
  Scheduler& s = Make(/*max_in_flight=*/1);
  v1::Assignment a;
  a.set_generation(3);
  *a.add_targets() = MakeTarget("web1", 2222, 1000, 500);
  s.SetAssignment(a);
  fake_.takes = milliseconds(2000);  // web1's run holds the one slot for 2 s
  clock_.Advance(milliseconds(1000));
  ASSERT_EQ(fake_started_, 1);
  fake_.takes = milliseconds(30);
  s.RunAdHoc(MakeTarget("adhoc.example:2200", 2200, 60000, 1000), "abc-1");
  EXPECT_EQ(fake_started_, 2);  // not held back by max_in_flight
  clock_.Advance(milliseconds(30));
  std::vector<Seen> seen = For("adhoc.example:2200");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].result.adhoc_id(), "abc-1");
  EXPECT_EQ(seen[0].result.generation(), 0u);
  EXPECT_EQ(seen[0].result.outcome(), v1::OUTCOME_OK);
  clock_.Advance(milliseconds(120000));  // never again
  EXPECT_EQ(For("adhoc.example:2200").size(), 1u);
  for (const Seen& w : For("web1")) EXPECT_TRUE(w.result.adhoc_id().empty());

  v1::Target bad = MakeTarget("bad", 0, 60000, 1000);
  s.RunAdHoc(bad, "abc-2");
  seen = For("bad");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].result.outcome(), v1::OUTCOME_PROBE_ERROR);
  EXPECT_EQ(seen[0].result.adhoc_id(), "abc-2");
  EXPECT_NE(seen[0].result.detail().find("port 0 is not in 1..65535"), std::string::npos)
      << seen[0].result.detail();
}

}  // namespace
}  // namespace parallax::probe
