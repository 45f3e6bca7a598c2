// The probe's check (CheckRun: SSH check, protocol rules, second opinion)
// against real servers from Debian packages on loopback, each on its own
// free port, started and killed by PID (tests/integration/harness.h):
//
//   dropbear, tinysshd (inetd-style behind socat), OpenSSH sshd   -> ok
//   a listener printing lines before "SSH-2.0-"                   -> ok, lines kept
//   an "SSH-1.5-" listener                                        -> not_ssh (SSH-1 only)
//   redis-server (quotes our line in "-ERR unknown command")      -> not_ssh
//   python3 -m http.server (HTML error page, no status line)      -> not_ssh
//   openssl s_server (TLS)                                        -> not_ssh (TLS)
//   OpenSSH sshd with MaxStartups 1:100:1 exhausted               -> "Exceeded MaxStartups"
//
// A server whose package is missing is skipped with the package name
// (deploy/install-deps.sh --test installs them all).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "probe/scheduler/check_run.h"
#include "tests/integration/cluster.h"
#include "tests/integration/harness.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kOwnLine[] = "SSH-2.0-parallax_probe_test";

class RealServersTest : public ::testing::Test {
 protected:
  // Starts argv (which must listen on 127.0.0.1:port) and waits until it does.
  Process* Start(std::vector<std::string> argv, int port, const std::string& name) {
    procs_.push_back(std::make_unique<Process>(std::move(argv), dir_.File(name + ".log")));
    Process* p = procs_.back().get();
    bool up = WaitFor([&] { return LoopbackPortOpen(port); }, std::chrono::seconds(10));
    EXPECT_TRUE(up) << name << " did not listen on " << port << ": " << p->log();
    return up ? p : nullptr;
  }

  v1::CheckResult Check(int port, uint32_t timeout_ms = 3000) {
    v1::Target t;
    t.set_name("t");
    t.set_host("127.0.0.1");
    t.set_port(port);
    t.set_interval_ms(60000);
    t.set_timeout_ms(timeout_ms);
    boost::asio::io_context io;
    auto run = probe::CheckRun::Create(io, t, kOwnLine, nullptr, &memory_);
    v1::CheckResult out;
    bool done = false;
    run->Start([&](v1::CheckResult&& r) {
      out = std::move(r);
      done = true;
    });
    for (int i = 0; i < 500 && !done; ++i) io.run_for(milliseconds(20));
    EXPECT_TRUE(done);
    return out;
  }

  // A shell script in the test's directory (socat's SYSTEM: parses ':' and ',').
  std::string Script(const std::string& name, const std::string& body) {
    WriteFile(dir_.File(name), body + "\n");
    return dir_.File(name);
  }

  // An OpenSSH sshd with MaxStartups 1:100:1 whose one slot is held by an
  // open connection (*holder, to close): every further connection is
  // dropped with "Exceeded MaxStartups". Returns its port, 0 if skipped.
  int StartFullSshd(int* holder) {
    const char* sshd_bin = "/usr/sbin/sshd";
    if (!IsExecutable(sshd_bin)) {
      ADD_FAILURE() << "no " << sshd_bin << ": apt-get install openssh-server";
      return 0;
    }
    std::string key = dir_.File("full_host_ed25519_key");
    EXPECT_EQ(RunCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key}).exit_code, 0);
    if (geteuid() == 0) std::filesystem::create_directories("/run/sshd");
    int port = FreePort();
    std::string cfg = dir_.File("full_sshd_config");
    WriteFile(cfg, "Port " + std::to_string(port) + "\nListenAddress 127.0.0.1\nHostKey " + key +
                       "\nPidFile " + dir_.File("full_sshd.pid") +
                       "\nUsePAM no\nLoginGraceTime 60\nMaxStartups 1:100:1\n");
    if (!Start({sshd_bin, "-D", "-r", "-e", "-f", cfg}, port, "sshd-maxstartups")) return 0;
    // LoopbackPortOpen's probe connections are closed; wait for sshd to forget them.
    std::this_thread::sleep_for(milliseconds(300));
    *holder = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(*holder, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    char buf[256];
    EXPECT_GT(read(*holder, buf, sizeof(buf)), 0);  // sshd's identification: the slot is taken
    return port;
  }

  static std::string Describe(const v1::CheckResult& r) { return r.ShortDebugString(); }

  TempDir dir_;
  probe::RunMemory memory_;
  std::vector<std::unique_ptr<Process>> procs_;
};

TEST_F(RealServersTest, DropbearIsOk) {
  if (!IsExecutable("/usr/sbin/dropbear")) GTEST_SKIP() << "apt-get install dropbear-bin";
  std::string key = dir_.File("dropbear_ed25519");
  ASSERT_EQ(RunCommand({"dropbearkey", "-t", "ed25519", "-f", key}).exit_code, 0);
  int port = FreePort();
  ASSERT_TRUE(Start({"/usr/sbin/dropbear", "-F", "-E", "-s", "-r", key, "-p",
                     "127.0.0.1:" + std::to_string(port)},
                    port, "dropbear"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << Describe(r);
  EXPECT_EQ(r.identification().rfind("SSH-2.0-dropbear", 0), 0u) << r.identification();
}

TEST_F(RealServersTest, TinysshdBehindSocatIsOk) {
  if (!IsExecutable("/usr/sbin/tinysshd")) GTEST_SKIP() << "apt-get install tinysshd";
  if (!IsExecutable("/usr/bin/socat")) GTEST_SKIP() << "apt-get install socat";
  std::string keys = dir_.File("tinyssh");
  ASSERT_EQ(RunCommand({"tinysshd-makekey", keys}).exit_code, 0);
  int port = FreePort();
  ASSERT_TRUE(
      Start({"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
             "EXEC:/usr/sbin/tinysshd " + keys},
            port, "tinysshd"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << Describe(r);
  EXPECT_EQ(r.identification().rfind("SSH-2.0-tinyssh", 0), 0u) << r.identification();
}

TEST_F(RealServersTest, OpensshIsOk) {
  std::string why;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir_, &why);
  if (!sshd) GTEST_SKIP() << why;
  v1::CheckResult r = Check(sshd->port());
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << Describe(r);
  EXPECT_EQ(r.identification().rfind("SSH-2.0-OpenSSH_", 0), 0u) << r.identification();
}

TEST_F(RealServersTest, LinesBeforeTheIdentificationAreKeptAndOk) {
  if (!IsExecutable("/usr/bin/socat")) GTEST_SKIP() << "apt-get install socat";
  int port = FreePort();
  ASSERT_TRUE(
      Start({"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
             "EXEC:/bin/sh " + Script("lines.sh",
                                      "printf 'Authorized use only\\r\\nHost: "
                                      "lab\\r\\nSSH-2.0-Legacy_1.0\\r\\n'; sleep 5")},
            port, "lines-before"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << Describe(r);
  EXPECT_EQ(r.identification(), "SSH-2.0-Legacy_1.0");
  ASSERT_EQ(r.pre_banner_size(), 2) << Describe(r);
  EXPECT_EQ(r.pre_banner(0), "Authorized use only");
  EXPECT_EQ(r.pre_banner(1), "Host: lab");
}

TEST_F(RealServersTest, Ssh15ListenerIsNotSsh) {
  if (!IsExecutable("/usr/bin/socat")) GTEST_SKIP() << "apt-get install socat";
  int port = FreePort();
  ASSERT_TRUE(
      Start({"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
             "EXEC:/bin/sh " + Script("ssh15.sh", "printf 'SSH-1.5-1.2.27\\n'; sleep 5")},
            port, "ssh15"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << Describe(r);
  EXPECT_NE(r.detail().find("speaks SSH protocol 1 only"), std::string::npos) << r.detail();
}

TEST_F(RealServersTest, RedisIsNotSsh) {
  if (!IsExecutable("/usr/bin/redis-server")) GTEST_SKIP() << "apt-get install redis-server";
  int port = FreePort();
  ASSERT_TRUE(Start({"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", dir_.path()},
                    port, "redis"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << Describe(r);
  EXPECT_NE(r.detail().find("quotes the probe's own identification line"), std::string::npos)
      << r.detail();
  EXPECT_NE(r.detail().find("-ERR unknown command"), std::string::npos) << r.detail();
}

TEST_F(RealServersTest, PythonHttpServerIsNotSsh) {
  int port = FreePort();
  ASSERT_TRUE(Start({"python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1",
                     "--directory", dir_.path()},
                    port, "http.server"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << Describe(r);
  EXPECT_NE(r.detail().find("HTML document"), std::string::npos) << r.detail();
}

TEST_F(RealServersTest, OpensslSServerIsNotSshTls) {
  std::string key = dir_.File("tls.key"), cert = dir_.File("tls.crt");
  ASSERT_EQ(RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=localhost"})
                .exit_code,
            0);
  int port = FreePort();
  ASSERT_TRUE(Start({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                     cert, "-key", key, "-naccept", "100", "-quiet"},
                    port, "s_server"));
  v1::CheckResult r = Check(port);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_NOT_SSH) << Describe(r);
  EXPECT_NE(r.detail().find("TLS"), std::string::npos) << r.detail();
}

TEST_F(RealServersTest, SshdMaxStartupsExhaustedSaysSoInItsOwnWords) {
  int holder = -1;
  int port = StartFullSshd(&holder);
  if (port == 0) return;
  v1::CheckResult r = Check(port);
  close(holder);
  EXPECT_TRUE(r.outcome() == v1::OUTCOME_CLOSED || r.outcome() == v1::OUTCOME_RESET) << Describe(r);
  ASSERT_GE(r.pre_banner_size(), 1) << Describe(r);
  EXPECT_EQ(r.pre_banner(0), "Exceeded MaxStartups") << Describe(r);
  EXPECT_NE(r.detail().find("the server sent 1 other line"), std::string::npos) << r.detail();
  EXPECT_FALSE(r.liveness().has_second_opinion());  // it did say something
}

// Through collector, probe and CLI: the evidence survives storage and shows
// in `parallax history -o json`.
TEST_F(RealServersTest, EvidenceReachesHistoryJson) {
  std::string why;
  std::unique_ptr<Sshd> moved = Sshd::Start(dir_, &why);
  if (!moved) GTEST_SKIP() << why;
  int holder = -1;
  int full = StartFullSshd(&holder);
  if (full == 0) return;
  int closed = ClosedPort();
  Cluster cluster(dir_);
  cluster.Configure(
      {{"moved", "127.0.0.1", closed, "    alt_ports: [" + std::to_string(moved->port()) + "]\n"},
       {"full", "127.0.0.1", full}},
      "2s", "1500ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "loopback"}});
  nlohmann::json status;
  bool ok =
      cluster.WaitForOutcomes({{{"moved", "p1"}, "refused"}}, std::chrono::seconds(20), &status);
  ASSERT_TRUE(ok) << status.dump(2) << cluster.probe("p1")->log();
  nlohmann::json h = cluster.CliJson({"history", "moved", "--limit", "1"});
  ASSERT_FALSE(h["entries"].empty()) << h.dump(2);
  const nlohmann::json& e = h["entries"][0];
  EXPECT_EQ(e["outcome"], "refused") << e.dump(2);
  EXPECT_EQ(e["evidence"]["ssh_answered_on_port"], moved->port()) << e.dump(2);
  EXPECT_EQ(e["evidence"]["alt_ports"][0]["outcome"], "OUTCOME_OK") << e.dump(2);
  EXPECT_NE(e["detail"].get<std::string>().find("an SSH server answers on port " +
                                                std::to_string(moved->port())),
            std::string::npos)
      << e.dump(2);
  bool words = WaitFor(
      [&] {
        nlohmann::json f = cluster.CliJson({"history", "full", "--limit", "1"});
        return !f["entries"].empty() && !f["entries"][0]["pre_banner"].empty() &&
               f["entries"][0]["pre_banner"][0] == "Exceeded MaxStartups";
      },
      std::chrono::seconds(15));
  close(holder);
  EXPECT_TRUE(words) << cluster.CliJson({"history", "full", "--limit", "1"}).dump(2);
}

// What the probe's checks leave in OpenSSH's log, read by fail2ban's real
// sshd filter (Debian's fail2ban): one "Connection closed/reset by ...
// [preauth]" line per check, counted in modes aggressive and ddos, not in
// normal or extra (docs/OPERATIONS.md's table). ~2 s.
TEST_F(RealServersTest, Fail2banCountsEveryCheckInModesAggressiveAndDdosOnly) {
  if (!IsExecutable("/usr/bin/fail2ban-regex")) GTEST_SKIP() << "apt-get install fail2ban";
  std::string why;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir_, &why);
  if (!sshd) GTEST_SKIP() << why;
  constexpr int kChecks = 6;
  for (int i = 0; i < kChecks; ++i) {
    v1::CheckResult r = Check(sshd->port());
    ASSERT_EQ(r.outcome(), v1::OUTCOME_OK) << Describe(r);
  }
  // sshd logs the close after the probe's socket is gone: wait (bounded).
  auto preauth = [&] {
    int n = 0;
    std::string log = sshd->log();
    for (size_t at = log.find("[preauth]"); at != std::string::npos;
         at = log.find("[preauth]", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return preauth() >= kChecks; }, std::chrono::seconds(10)))
      << sshd->log();
  // sshd -e logs without a syslog header: give each line one, as journald would.
  std::string lines;
  std::string log = sshd->log();
  for (size_t start = 0; start < log.size();) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (line.find("[preauth]") != std::string::npos) {
      lines += "Dec  1 12:00:00 target sshd[4242]: " + line + "\n";
    }
    start = end + 1;
  }
  WriteFile(dir_.File("auth.log"), lines);
  for (const char* mode : {"normal", "extra", "ddos", "aggressive"}) {
    CommandResult r =
        RunCommand({"fail2ban-regex", dir_.File("auth.log"),
                    std::string("/etc/fail2ban/filter.d/sshd.conf[mode=") + mode + "]"},
                   std::chrono::seconds(30));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    bool counted = std::string(mode) == "ddos" || std::string(mode) == "aggressive";
    std::string want = std::to_string(kChecks) + " lines, 0 ignored, " +
                       std::to_string(counted ? kChecks : 0) + " matched";
    std::string alt = std::to_string(kChecks) + " lines, " + std::to_string(counted ? 0 : kChecks) +
                      " ignored, " + std::to_string(counted ? kChecks : 0) + " matched";
    EXPECT_TRUE(r.out.find(want) != std::string::npos || r.out.find(alt) != std::string::npos)
        << mode << ":\n"
        << r.out;
  }
}

}  // namespace
}  // namespace parallax::testing
