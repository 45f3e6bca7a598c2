// The collector's clock decides: probes whose wall clock is 10 minutes behind
// and 10 minutes ahead (WallClockSkewArgv, harness.h: ahead under Debian's
// libfaketime, behind under a system_clock preload; monotonic time untouched)
// count exactly like a probe in sync, their offsets are measured and shown,
// and a probe that hangs (SIGSTOP) stops counting within the stale window.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A probe process whose wall clock is shifted by `offset` ("-10m").
std::unique_ptr<Process> StartSkewedProbe(Cluster& cluster, const TempDir& dir,
                                          const std::string& name, const std::string& network,
                                          const std::string& offset) {
  std::vector<std::string> argv = WallClockSkewArgv(offset);
  std::vector<std::string> probe = {ProbeBinary(),
                                    "--collector",
                                    cluster.collector_address(),
                                    "--name",
                                    name,
                                    "--label",
                                    "network=" + network,
                                    "--insecure",
                                    "--allow-loopback",
                                    "--state-dir",
                                    dir.File("state-" + name)};
  argv.insert(argv.end(), probe.begin(), probe.end());
  return std::make_unique<Process>(argv, dir.File("probe-" + name + ".log"));
}

const nlohmann::json* Evidence(const nlohmann::json& verdict, const std::string& probe) {
  if (!verdict.contains("evidence")) return nullptr;
  for (const auto& e : verdict["evidence"]) {
    if (e.value("probe", "") == probe) return &e;
  }
  return nullptr;
}

TEST(Clock, SkewedProbesCountLikeProbesInSyncAndAHungOneStopsCounting) {
  if (WallClockSkewArgv("+10m").empty()) {
    GTEST_SKIP() << kLibFaketime
                 << " missing: install Debian's faketime (deploy/install-deps.sh --test)";
  }
  TempDir dir;
  auto up = std::make_unique<Listener>(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");  // counts stored result rows
  cluster.Configure({{"refused", "127.0.0.1", ClosedPort()}, {"flip", "127.0.0.1", up->port()}},
                    "1s", "700ms");
  cluster.StartCollector();
  cluster.StartProbe("p-sync", {{"network", "n-sync"}});
  auto behind = StartSkewedProbe(cluster, dir, "p-behind", "n-behind", "-10m");
  auto ahead = StartSkewedProbe(cluster, dir, "p-ahead", "n-ahead", "+10m");

  // Every probe agrees on both targets, none is excluded as stale.
  nlohmann::json refused, flip;
  auto all_agree = [&](const nlohmann::json& v, const std::string& cause) {
    if (v.value("cause", "") != cause) return false;
    for (const char* p : {"p-sync", "p-behind", "p-ahead"}) {
      const nlohmann::json* e = Evidence(v, p);
      if (e == nullptr || e->value("role", "").rfind("agrees", 0) != 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        refused = cluster.CliJson({"explain", "refused"});
        flip = cluster.CliJson({"explain", "flip"});
        return all_agree(refused, "ssh_refused") && all_agree(flip, "ok");
      },
      seconds(30)))
      << refused.dump(2) << "\n"
      << flip.dump(2) << "\n"
      << behind->log() << ahead->log();
  EXPECT_GT(refused["confidence"].get<double>(), 0.9) << refused.dump(2);

  // The offsets are measured (to well within a second on loopback) and shown.
  const nlohmann::json* eb = Evidence(refused, "p-behind");
  const nlohmann::json* ea = Evidence(refused, "p-ahead");
  const nlohmann::json* es = Evidence(refused, "p-sync");
  ASSERT_TRUE(eb && ea && es);
  EXPECT_NEAR((*eb)["clock_offset_s"].get<double>(), -600, 1.0) << refused.dump(2);
  EXPECT_NEAR((*ea)["clock_offset_s"].get<double>(), 600, 1.0) << refused.dump(2);
  EXPECT_NEAR((*es)["clock_offset_s"].get<double>(), 0, 1.0) << refused.dump(2);
  for (const nlohmann::json* e : {eb, ea, es}) EXPECT_LT((*e)["age_s"].get<double>(), 5.0);
  std::string metrics = cluster.Metrics();
  EXPECT_NEAR(MetricValue(metrics, R"(parallax_probe_clock_offset_seconds{probe="p-behind"})"),
              -600, 1.0);
  EXPECT_NEAR(MetricValue(metrics, R"(parallax_probe_clock_offset_seconds{probe="p-ahead"})"), 600,
              1.0);

  nlohmann::json status = cluster.CliJson({"status"});
  for (const auto& t : status["targets"]) {
    for (const auto& p : t["probes"]) {
      EXPECT_LT(p["age_s"].get<double>(), 5.0) << p.dump();
    }
  }
  CommandResult text = RunCommand({CliBinary(), "--collector", cluster.collector_address(),
                                   "--insecure", "explain", "refused"});
  EXPECT_NE(text.out.find("probe p-behind's clock is 600."), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("s behind the collector's"), std::string::npos) << text.out;
  std::printf("[ clock ] parallax explain refused, with p-behind 10 minutes behind:\n%s\n",
              text.out.c_str());
  CommandResult st =
      RunCommand({CliBinary(), "--collector", cluster.collector_address(), "--insecure", "status"});
  EXPECT_NE(st.out.find("probe p-ahead's clock is 600."), std::string::npos) << st.out;

  // Stored: ts_ms on the collector's clock, the probe's own time beside it.
  auto rows = SqliteQuery(cluster.db_path(),
                          "SELECT max(abs(r.ts_ms - r.received_ms)) < 5000,"
                          " min(r.probe_ts_ms - r.ts_ms) > 590000 FROM results r"
                          " JOIN probes p ON p.id = r.probe_id WHERE p.name = 'p-ahead'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], "1|1");

  // p-ahead hangs. Once the stale window has passed, the target starts
  // refusing: its last (ok, 10 minutes "in the future") result must not turn
  // ssh_refused into source_block.
  ahead->Signal(SIGSTOP);
  std::this_thread::sleep_for(seconds(5));  // 3 x 1 s interval + 700 ms timeout, and a margin
  up.reset();                               // the port now refuses
  std::set<std::string> causes;
  nlohmann::json v;
  bool refused_now = WaitFor(
      [&] {
        v = cluster.CliJson({"explain", "flip"});
        causes.insert(v.value("cause", ""));
        return v.value("cause", "") == "ssh_refused";
      },
      seconds(20));
  ahead->Signal(SIGCONT);
  ASSERT_TRUE(refused_now) << v.dump(2);
  EXPECT_EQ(causes.count("source_block"), 0u) << v.dump(2);
  EXPECT_EQ(causes.count("partial"), 0u) << v.dump(2);
  const nlohmann::json* hung = Evidence(v, "p-ahead");
  if (hung != nullptr) EXPECT_EQ(hung->value("role", "").rfind("excluded", 0), 0u) << v.dump(2);
}

}  // namespace
}  // namespace parallax::testing
