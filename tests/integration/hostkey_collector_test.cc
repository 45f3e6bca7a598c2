// Host key pinning end to end on loopback: a real sshd, a collector and two
// probes (networks a and b) as processes. The key is pinned on first use;
// sshd restarted with another key on the same port -> hostkey_changed from
// every vantage point (explain names both fingerprints); `parallax hostkey
// accept` re-pins (stored in SQLite) -> ok. hostkey_interval is 1s here so
// the probes re-run the key exchange quickly (~15 s in all).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "tests/integration/cluster.h"
#include "tests/integration/harness.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

std::string KeygenFingerprint(const std::string& pub) {
  CommandResult r = RunCommand({"ssh-keygen", "-l", "-E", "sha256", "-f", pub});
  size_t a = r.out.find("SHA256:");
  return a == std::string::npos ? "" : r.out.substr(a, r.out.find(' ', a) - a);
}

std::unique_ptr<Process> StartSshd(const TempDir& dir, int port, const std::string& key,
                                   const std::string& name) {
  std::string cfg = dir.File(name + "_config");
  WriteFile(cfg, "Port " + std::to_string(port) + "\nListenAddress 127.0.0.1\nHostKey " + key +
                     "\nPidFile " + dir.File(name + ".pid") +
                     "\nUsePAM no\nLogLevel VERBOSE\nMaxStartups 100:30:200\n");
  return std::make_unique<Process>(
      std::vector<std::string>{"/usr/sbin/sshd", "-D", "-r", "-e", "-f", cfg}, dir.File(name + ".log"));
}

TEST(HostKeyCollector, ChangedEverywhereThenAccepted) {
  if (access("/usr/sbin/sshd", X_OK) != 0) GTEST_SKIP() << "apt-get install openssh-server";
  TempDir dir;
  if (geteuid() == 0) std::filesystem::create_directories("/run/sshd");
  std::string key_a = dir.File("key_a"), key_b = dir.File("key_b");
  ASSERT_EQ(RunCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key_a}).exit_code, 0);
  ASSERT_EQ(RunCommand({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", key_b}).exit_code, 0);
  const std::string fp_a = KeygenFingerprint(key_a + ".pub");
  const std::string fp_b = KeygenFingerprint(key_b + ".pub");
  ASSERT_FALSE(fp_a.empty());
  int port = FreePort();
  auto sshd = StartSshd(dir, port, key_a, "sshd_a");

  Cluster cluster(dir);
  cluster.Configure({{"web", "127.0.0.1", port, "    hostkey_interval: 1s"}});
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "a"}});
  cluster.StartProbe("p2", {{"network", "b"}});

  nlohmann::json v;
  auto explain_until = [&](const std::string& cause, const std::string& fp) {
    return WaitFor(
        [&] {
          v = cluster.CliJson({"explain", "web"});
          if (v.is_null() || v["cause"] != cause || v["evidence"].size() != 2) return false;
          for (const auto& e : v["evidence"]) {
            if (e["host_key_fingerprint"] != fp) return false;
          }
          return true;
        },
        seconds(30));
  };
  ASSERT_TRUE(explain_until("ok", fp_a)) << v.dump(2) << "\n" << cluster.collector()->log();
  EXPECT_EQ(v["pinned_host_keys"], nlohmann::json::array({fp_a})) << v.dump(2);
  EXPECT_EQ(v["evidence"][0]["host_key_type"], "ssh-ed25519");
  auto rows = SqliteQuery(cluster.db_path(), "SELECT target, fingerprints FROM host_key_pins");
  EXPECT_EQ(rows, std::vector<std::string>{"web|" + fp_a});

  // The host is "rebuilt": same address and port, another key.
  sshd.reset();  // killed by PID (its process group)
  sshd = StartSshd(dir, port, key_b, "sshd_b");
  ASSERT_TRUE(explain_until("hostkey_changed", fp_b)) << v.dump(2);
  const std::string summary = v["summary"];
  EXPECT_NE(summary.find(fp_b), std::string::npos) << summary;
  EXPECT_NE(summary.find(fp_a), std::string::npos) << summary;
  EXPECT_NE(summary.find("ssh-keygen -R 127.0.0.1"), std::string::npos) << summary;
  // /metrics: the alert's series, and the key per pair.
  std::string metrics;
  EXPECT_TRUE(WaitFor(
      [&] {
        metrics = cluster.Metrics();
        return MetricValue(metrics, R"(parallax_target_hostkey_changed{target="web"})") == 1;
      },
      seconds(10)))
      << metrics;
  EXPECT_EQ(
      MetricValue(metrics, "parallax_pair_hostkey_info{fingerprint=\"" + fp_b +
                               "\",probe=\"p1\",target=\"web\",type=\"ecdsa-sha2-nistp256\"}"),
      1)
      << metrics;
  // The text form shows the key per vantage point.
  CommandResult text = RunCommand(
      {CliBinary(), "explain", "web", "--collector", cluster.collector_address(), "--insecure"});
  std::cout << text.out;  // an example for the reader of the log
  EXPECT_NE(text.out.find("NOT PINNED"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(fp_b + " (ecdsa-sha2-nistp256)"), std::string::npos) << text.out;

  nlohmann::json accepted = cluster.CliJson({"hostkey", "accept", "web"});
  EXPECT_EQ(accepted["pinned"], nlohmann::json::array({fp_b}))
      << accepted.dump(2) << cluster.last_cli_error();
  EXPECT_EQ(accepted["previous"], nlohmann::json::array({fp_a}));
  ASSERT_TRUE(explain_until("ok", fp_b)) << v.dump(2);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricValue(cluster.Metrics(), R"(parallax_target_hostkey_changed{target="web"})") ==
               0;
      },
      seconds(10)));
  rows = SqliteQuery(cluster.db_path(), "SELECT target, fingerprints FROM host_key_pins");
  EXPECT_EQ(rows, std::vector<std::string>{"web|" + fp_b});
  // An unknown target is refused.
  EXPECT_TRUE(cluster.CliJson({"hostkey", "accept", "nope"}).is_null());
}

}  // namespace
}  // namespace parallax::testing
