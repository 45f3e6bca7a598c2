// Several collectors, one truth (issue 16, item 2), end to end: a real
// PostgreSQL server started by the test (collector/store/testing/pg_server.h),
// two real collector processes sharing its database, three real probes
// given both collectors (--collector A,B or B,A) checking a real sshd (or a
// loopback SSH banner listener where sshd cannot run) and a closed port.
//
//  1. kill -9 the follower two probes are connected to: they fail over to
//     the leader and resend what it was not acknowledged (the probe failover
//     time is measured and printed);
//  2. restart it (a follower again: it names the leader, and the CLI asks
//     the leader instead), then
//     kill -9 the leader while results flow: the follower takes the leader
//     lock within 2 x the evaluation period (measured and printed), every
//     probe fails over to it, and its verdicts continue (parallax_target_up);
//  3. the probes stop (draining their spools); per probe boot, in the
//     database: count = distinct seq = max seq = results the probe produced
//     (its own count at exit), and nothing unacknowledged at the probe:
//     0 lost, 0 stored twice.
// Runtime ~25 s (initdb ~3 s).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>

#include "collector/store/testing/pg_server.h"
#include "tests/integration/harness.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kEvaluatePeriodMs = 1000;

struct CollectorProc {
  int grpc_port = 0;
  int metrics_port = 0;
  std::string config;
  int starts = 0;
  std::unique_ptr<Process> process;
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
  std::string Metrics() const { return HttpGet(metrics_port, "/metrics"); }
  double Leader() const { return MetricValue(Metrics(), "parallax_collector_leader"); }
  double Streams() const { return MetricValue(Metrics(), "parallax_ingest_streams"); }
};

class TwoCollectorsTest : public ::testing::Test {
 protected:
  void Configure(CollectorProc* c, const std::string& name, const std::string& dsn, int ssh_port,
                 int closed_port) {
    c->grpc_port = FreePort();
    c->metrics_port = FreePort();
    c->config = dir_.File(name + ".yaml");
    WriteFile(c->config,
              "listen: 127.0.0.1:" + std::to_string(c->grpc_port) + "\nmetrics_listen: 127.0.0.1:" +
                  std::to_string(c->metrics_port) + "\nstorage:\n  driver: postgres\n  dsn: \"" +
                  dsn + "\"\ninterval: 300ms\ntimeout: 250ms\ndiagnosis:\n  evaluate_every: " +
                  std::to_string(kEvaluatePeriodMs) +
                  "ms\ntargets:\n  - name: sshd\n    host: 127.0.0.1\n    port: " +
                  std::to_string(ssh_port) + "\n  - name: closed\n    host: 127.0.0.1\n    port: " +
                  std::to_string(closed_port) + "\n");
  }
  void Start(CollectorProc* c, const std::string& name) {
    c->process.reset();
    c->process = std::make_unique<Process>(
        std::vector<std::string>{CollectorBinary(), "--config", c->config, "--insecure"},
        dir_.File(name + "." + std::to_string(++c->starts) + ".log"));
    const bool up =
        WaitFor([&] { return !c->Metrics().empty() || !c->process->running(); }, seconds(15));
    ASSERT_TRUE(up && c->process->running()) << name << " did not start:\n" << c->process->log();
  }
  void StartProbe(const std::string& name, const std::string& collectors) {
    probes_[name] = std::make_unique<Process>(
        std::vector<std::string>{ProbeBinary(), "--collector", collectors, "--name", name,
                                 "--allow-loopback", "--min-interval", "100ms", "--insecure",
                                 "--state-dir", dir_.File("state-" + name)},
        dir_.File("probe-" + name + ".log"));
  }
  // `parallax status` against `c`.
  CommandResult Status(const CollectorProc& c) {
    return RunCommand(
        {CliBinary(), "--collector", c.address(), "--insecure", "-o", "json", "status"});
  }
  std::string Logs(const CollectorProc& a, const CollectorProc& b) {
    std::string out = "collector A:\n" + (a.process ? a.process->log() : "") + "\ncollector B:\n" +
                      (b.process ? b.process->log() : "");
    for (const auto& [name, p] : probes_) out += "\nprobe " + name + ":\n" + p->log();
    return out;
  }

  TempDir dir_;
  std::map<std::string, std::unique_ptr<Process>> probes_;
};

TEST_F(TwoCollectorsTest, LeaderAndFollowerDieWithoutLosingOrDuplicatingResults) {
  std::string why;
  collector::testing::PgServer* pg = collector::testing::PgServer::Shared(&why);
  ASSERT_NE(pg, nullptr) << "PostgreSQL test server: " << why;
  ASSERT_TRUE(pg->CreateDatabase("two").ok());
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir_, &why);
  std::unique_ptr<Listener> banner;
  int ssh_port = 0;
  if (sshd) {
    ssh_port = sshd->port();
  } else {
    banner = std::make_unique<Listener>(Listener::Kind::kFastSsh);
    ssh_port = banner->port();
  }
  const int closed = ClosedPort();

  CollectorProc a, b;
  Configure(&a, "a", pg->Dsn("two"), ssh_port, closed);
  Configure(&b, "b", pg->Dsn("two"), ssh_port, closed);
  ASSERT_NO_FATAL_FAILURE(Start(&a, "a"));
  ASSERT_TRUE(WaitFor([&] { return a.Leader() == 1; }, seconds(10))) << Logs(a, b);
  ASSERT_NO_FATAL_FAILURE(Start(&b, "b"));
  ASSERT_TRUE(WaitFor([&] { return b.Leader() == 0; }, seconds(10))) << Logs(a, b);

  StartProbe("p1", a.address() + "," + b.address());
  StartProbe("p2", b.address() + "," + a.address());
  StartProbe("p3", b.address() + "," + a.address());
  ASSERT_TRUE(WaitFor([&] { return a.Streams() == 1 && b.Streams() == 2; }, seconds(15)))
      << Logs(a, b);
  // The leader diagnoses with every collector's results: the follower's
  // probes show in its status, their results read from latest_results.
  const std::string up_sshd = "parallax_target_up{target=\"sshd\"}";
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandResult r = Status(a);
        return r.out.find("\"p2\"") != std::string::npos &&
               r.out.find("\"p3\"") != std::string::npos && MetricValue(a.Metrics(), up_sshd) == 1;
      },
      seconds(20)))
      << Status(a).out << Logs(a, b);
  // A follower does not lie: it names the leader instead of a diagnosis, and
  // the CLI asks the leader (saying so on stderr): the same answer as A's.
  CommandResult on_follower = Status(b);
  EXPECT_NE(on_follower.err.find("collector " + b.address() +
                                 " is a follower; asking the leader, " + a.address()),
            std::string::npos)
      << on_follower.err;
  nlohmann::json via_b = nlohmann::json::parse(on_follower.out, nullptr, false);
  ASSERT_TRUE(via_b.is_object() && via_b.contains("targets")) << on_follower.out;
  EXPECT_NE(on_follower.out.find("\"p2\""), std::string::npos) << on_follower.out;
  EXPECT_EQ(on_follower.exit_code, Status(a).exit_code) << on_follower.err;
  EXPECT_TRUE(std::isnan(MetricValue(b.Metrics(), up_sshd))) << "a follower exports verdicts";

  // 1. kill -9 the follower that p2 and p3 stream to.
  std::this_thread::sleep_for(milliseconds(1500));  // results flow
  auto killed = Clock::now();
  b.process->Signal(SIGKILL);
  b.process->Wait(seconds(10));
  ASSERT_TRUE(WaitFor([&] { return a.Streams() == 3; }, seconds(20))) << Logs(a, b);
  const auto probe_failover =
      std::chrono::duration_cast<milliseconds>(Clock::now() - killed).count();
  std::printf("probe failover after kill -9 of their collector: %lld ms (3 streams on A)\n",
              static_cast<long long>(probe_failover));
  std::this_thread::sleep_for(milliseconds(1500));

  // 2. The killed collector comes back as a follower; then kill -9 the leader.
  ASSERT_NO_FATAL_FAILURE(Start(&b, "b"));
  ASSERT_TRUE(WaitFor([&] { return b.Leader() == 0; }, seconds(10))) << Logs(a, b);
  killed = Clock::now();
  a.process->Signal(SIGKILL);
  a.process->Wait(seconds(10));
  ASSERT_TRUE(WaitFor([&] { return b.Leader() == 1; }, seconds(20))) << Logs(a, b);
  const auto leader_failover =
      std::chrono::duration_cast<milliseconds>(Clock::now() - killed).count();
  std::printf("leader failover after kill -9 of the leader: %lld ms (evaluation period %d ms)\n",
              static_cast<long long>(leader_failover), kEvaluatePeriodMs);
  EXPECT_LE(leader_failover, 2 * kEvaluatePeriodMs) << Logs(a, b);
  ASSERT_TRUE(WaitFor([&] { return b.Streams() == 3; }, seconds(20))) << Logs(a, b);
  const auto all_on_b = std::chrono::duration_cast<milliseconds>(Clock::now() - killed).count();
  std::printf("every probe streaming to the new leader %lld ms after the kill\n",
              static_cast<long long>(all_on_b));
  // Verdicts continue on the new leader, from its own evaluations.
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandResult r = Status(b);
        if (MetricValue(b.Metrics(), up_sshd) != 1) return false;
        nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
        if (!j.is_object() || !j.contains("targets")) return false;
        for (const auto& t : j["targets"]) {
          if (t.value("name", "") == "sshd") return t.value("cause", "") == "ok";
        }
        return false;
      },
      seconds(20)))
      << Status(b).out << Status(b).err << Logs(a, b);
  std::this_thread::sleep_for(milliseconds(1500));

  // 3. Stop the probes (each drains its spool to B), then count.
  for (auto& [name, p] : probes_) p->Signal(SIGTERM);
  for (auto& [name, p] : probes_) EXPECT_EQ(p->Wait(seconds(15)), 0) << p->log();
  b.process->Signal(SIGTERM);
  EXPECT_EQ(b.process->Wait(seconds(15)), 0) << b.process->log();

  const std::regex stopped(
      R"(stopped: (\d+) results produced, (\d+) unacknowledged, (\d+) dropped)");
  for (const auto& [name, p] : probes_) {
    const std::string log = p->log();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(log, m, stopped)) << log;
    const long long produced = std::stoll(m[1]);
    EXPECT_EQ(m[2], "0") << name << ": results left unacknowledged\n" << log;
    EXPECT_EQ(m[3], "0") << name << ": results dropped\n" << log;
    EXPECT_GT(produced, 20) << log;
    std::string boots, row;
    ASSERT_TRUE(pg->Exec("two",
                         "SELECT COUNT(*) FROM probe_boots b JOIN probes p ON p.id = b.probe_id"
                         " WHERE p.name = '" +
                             name + "'",
                         &boots)
                    .ok());
    EXPECT_EQ(boots, "1") << name;
    ASSERT_TRUE(pg->Exec("two",
                         // Run compaction (the default): runs count every check.
                         "SELECT COALESCE(SUM(r.count), 0) || '|' || (" +
                             std::string(kOverlappingRunsSql) +
                             ") || '|' || COALESCE(MAX(r.last_seq), 0) || '|' || MAX(b.max_seq)"
                             " FROM runs r JOIN probe_boots b ON b.id = r.boot_ref"
                             " JOIN probes p ON p.id = b.probe_id WHERE p.name = '" +
                             name + "'",
                         &row)
                    .ok());
    const std::string n = std::to_string(produced);
    // stored = produced (0 lost), no seq in two runs of a pair (0 stored
    // twice), max seq = mark = produced (no hole).
    EXPECT_EQ(row, n + "|0|" + n + "|" + n) << name << Logs(a, b);
    std::printf("probe %s: %s results produced; stored|overlaps|max seq|boot mark = %s\n",
                name.c_str(), n.c_str(), row.c_str());
  }
  // Resends reached the other collector and were recognised.
  EXPECT_NE(Logs(a, b).find("failing over to collector"), std::string::npos);
}

}  // namespace
}  // namespace parallax::testing
