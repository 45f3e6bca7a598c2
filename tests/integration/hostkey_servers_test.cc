// The probe's SSH host-key exchange (SshCheck with hostkey, SshKexClient)
// against real servers from Debian on loopback, each on its own free port,
// started and killed by PID (tests/integration/harness.h):
//
//   OpenSSH sshd with an ed25519, an ECDSA P-256, an RSA host key
//   dropbear with an ed25519, an ECDSA P-256, an RSA host key
//   tinysshd (ed25519 only) behind socat
//
// Each time: outcome ok, the key verified (no error), its type, and the
// fingerprint equal to what `ssh-keygen -lf` prints for the host key file.
// sshd runs with LogLevel VERBOSE -E logfile: its log shows our clean
// disconnect and no authentication attempt at all.
//
// A server whose package is missing is skipped with the package name.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "probe/checks/ssh_check.h"
#include "tests/integration/harness.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kOwnLine[] = "SSH-2.0-parallax_probe_test";

// "SHA256:..." from `ssh-keygen -lf file` ("256 SHA256:xyz comment (ED25519)").
std::string KeygenFingerprint(const std::string& file) {
  CommandResult r = RunCommand({"ssh-keygen", "-l", "-E", "sha256", "-f", file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t start = r.out.find("SHA256:");
  if (start == std::string::npos) return "(no fingerprint in: " + r.out + ")";
  size_t end = r.out.find(' ', start);
  return r.out.substr(start, end - start);
}

class HostKeyServersTest : public ::testing::Test {
 protected:
  Process* Start(std::vector<std::string> argv, int port, const std::string& name) {
    procs_.push_back(std::make_unique<Process>(std::move(argv), dir_.File(name + ".log")));
    Process* p = procs_.back().get();
    bool up = WaitFor([&] { return LoopbackPortOpen(port); }, std::chrono::seconds(10));
    EXPECT_TRUE(up) << name << " did not listen on " << port << ": " << p->log();
    return up ? p : nullptr;
  }

  v1::CheckResult Check(int port) {
    boost::asio::io_context io;
    probe::SshCheckOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<uint16_t>(port);
    o.identification = kOwnLine;
    o.hostkey = true;
    auto check = probe::SshCheck::Create(io, o);
    bool done = false;
    probe::StartWithDeadline(io, check, milliseconds(5000), [&] { done = true; });
    for (int i = 0; i < 400 && !done; ++i) io.run_for(milliseconds(20));
    EXPECT_TRUE(done);
    return check->result();
  }

  // Starts sshd with the one host key `key` (LogLevel VERBOSE, -E log).
  int StartSshd(const std::string& key, const std::string& name) {
    if (geteuid() == 0) std::filesystem::create_directories("/run/sshd");
    int port = FreePort();
    std::string cfg = dir_.File(name + "_config");
    WriteFile(cfg, "Port " + std::to_string(port) + "\nListenAddress 127.0.0.1\nHostKey " + key +
                       "\nPidFile " + dir_.File(name + ".pid") +
                       "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                       "UsePAM no\nLogLevel VERBOSE\n");
    sshd_log_ = dir_.File(name + ".sshdlog");
    if (!Start({"/usr/sbin/sshd", "-D", "-r", "-E", sshd_log_, "-f", cfg}, port, name)) return 0;
    return port;
  }

  void ExpectKey(const v1::CheckResult& r, const std::string& type, const std::string& keyfile) {
    EXPECT_EQ(r.outcome(), v1::OUTCOME_OK) << r.ShortDebugString();
    ASSERT_TRUE(r.has_host_key()) << r.ShortDebugString();
    EXPECT_EQ(r.host_key().error(), "") << r.ShortDebugString();
    EXPECT_EQ(r.host_key().type(), type);
    EXPECT_EQ(r.host_key().fingerprint(), KeygenFingerprint(keyfile));
    EXPECT_FALSE(r.host_key().kex_algorithms().empty());
    EXPECT_FALSE(r.host_key().ciphers().empty());
  }

  void OpenSsh(const std::string& keygen_type, const std::string& type,
               const std::string& expect_sig) {
    if (!IsExecutable("/usr/sbin/sshd")) GTEST_SKIP() << "apt-get install openssh-server";
    std::string key = dir_.File("host_" + keygen_type);
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", keygen_type, "-N", "", "-f", key};
    if (keygen_type == "rsa") argv.insert(argv.end(), {"-b", "2048"});
    ASSERT_EQ(RunCommand(argv).exit_code, 0);
    int port = StartSshd(key, "sshd_" + keygen_type);
    ASSERT_NE(port, 0);
    v1::CheckResult r = Check(port);
    ExpectKey(r, type, key + ".pub");
    EXPECT_EQ(r.host_key().signature_algorithm(), expect_sig);
    EXPECT_EQ(r.identification().rfind("SSH-2.0-OpenSSH", 0), 0u);
    // Our DISCONNECT arrived, and nothing of authentication happened.
    bool seen = WaitFor(
        [&] { return ReadFile(sshd_log_).find("host key check done") != std::string::npos; },
        std::chrono::seconds(5));
    std::string log = ReadFile(sshd_log_);
    EXPECT_TRUE(seen) << log;
    for (const char* auth : {"Invalid user", "Failed ", "Accepted ", "authenticating user",
                             "userauth", "Postponed", "maximum authentication"}) {
      EXPECT_EQ(log.find(auth), std::string::npos) << auth << " in sshd's log:\n" << log;
    }
  }

  void Dropbear(const std::string& dbtype, const std::string& type) {
    if (!IsExecutable("/usr/sbin/dropbear")) GTEST_SKIP() << "apt-get install dropbear-bin";
    std::string key = dir_.File("dropbear_" + dbtype);
    std::vector<std::string> argv = {"dropbearkey", "-t", dbtype, "-f", key};
    if (dbtype == "ecdsa") argv.insert(argv.end(), {"-s", "256"});
    if (dbtype == "rsa") argv.insert(argv.end(), {"-s", "2048"});
    ASSERT_EQ(RunCommand(argv).exit_code, 0);
    CommandResult pub = RunCommand({"dropbearkey", "-y", "-f", key});
    ASSERT_EQ(pub.exit_code, 0);
    size_t line = pub.out.find("\n" + std::string(dbtype == "ed25519" ? "ssh-ed25519"
                                                  : dbtype == "rsa"   ? "ssh-rsa"
                                                                      : "ecdsa-sha2"));
    ASSERT_NE(line, std::string::npos) << pub.out;
    std::string publine = pub.out.substr(line + 1, pub.out.find('\n', line + 1) - line - 1);
    WriteFile(key + ".pub", publine + "\n");
    int port = FreePort();
    ASSERT_TRUE(Start({"/usr/sbin/dropbear", "-F", "-E", "-s", "-r", key, "-p",
                       "127.0.0.1:" + std::to_string(port)},
                      port, "dropbear_" + dbtype));
    v1::CheckResult r = Check(port);
    ExpectKey(r, type, key + ".pub");
    EXPECT_EQ(r.identification().rfind("SSH-2.0-dropbear", 0), 0u);
  }

  TempDir dir_;
  std::string sshd_log_;
  std::vector<std::unique_ptr<Process>> procs_;
};

TEST_F(HostKeyServersTest, OpenSshEd25519) { OpenSsh("ed25519", "ssh-ed25519", "ssh-ed25519"); }
TEST_F(HostKeyServersTest, OpenSshEcdsa) {
  OpenSsh("ecdsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256");
}
TEST_F(HostKeyServersTest, OpenSshRsa) { OpenSsh("rsa", "ssh-rsa", "rsa-sha2-512"); }

TEST_F(HostKeyServersTest, DropbearEd25519) { Dropbear("ed25519", "ssh-ed25519"); }
TEST_F(HostKeyServersTest, DropbearEcdsa) { Dropbear("ecdsa", "ecdsa-sha2-nistp256"); }
TEST_F(HostKeyServersTest, DropbearRsa) { Dropbear("rsa", "ssh-rsa"); }

TEST_F(HostKeyServersTest, TinysshdEd25519) {
  if (!IsExecutable("/usr/sbin/tinysshd")) GTEST_SKIP() << "apt-get install tinysshd";
  if (!IsExecutable("/usr/bin/socat")) GTEST_SKIP() << "apt-get install socat";
  std::string keys = dir_.File("tinyssh");
  ASSERT_EQ(RunCommand({"tinysshd-makekey", keys}).exit_code, 0);
  // tinysshd keeps the raw 32-byte public key: write it as an OpenSSH
  // public key line for ssh-keygen.
  std::string pk = ReadFile(keys + "/ed25519.pk");
  ASSERT_EQ(pk.size(), 32u);
  std::string blob = std::string("\0\0\0\x0bssh-ed25519\0\0\0\x20", 19) + pk;
  unsigned char b64[128];
  int n = EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(blob.data()),
                          static_cast<int>(blob.size()));
  WriteFile(dir_.File("tinyssh.pub"),
            "ssh-ed25519 " + std::string(reinterpret_cast<char*>(b64), n) + "\n");
  int port = FreePort();
  ASSERT_TRUE(
      Start({"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
             "EXEC:/usr/sbin/tinysshd " + keys},
            port, "tinysshd"));
  v1::CheckResult r = Check(port);
  ExpectKey(r, "ssh-ed25519", dir_.File("tinyssh.pub"));
  EXPECT_EQ(r.identification().rfind("SSH-2.0-tinyssh", 0), 0u);
}

// Without `hostkey` (and no known identification) the check stops at the
// identification, as before: no key exchange.
TEST_F(HostKeyServersTest, NoExchangeUnlessAsked) {
  if (!IsExecutable("/usr/sbin/sshd")) GTEST_SKIP() << "apt-get install openssh-server";
  std::string key = dir_.File("host_plain");
  ASSERT_EQ(RunCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key}).exit_code, 0);
  int port = StartSshd(key, "sshd_plain");
  ASSERT_NE(port, 0);
  boost::asio::io_context io;
  probe::SshCheckOptions o;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(port);
  o.identification = kOwnLine;
  auto check = probe::SshCheck::Create(io, o);
  bool done = false;
  probe::StartWithDeadline(io, check, milliseconds(5000), [&] { done = true; });
  for (int i = 0; i < 400 && !done; ++i) io.run_for(milliseconds(20));
  ASSERT_TRUE(done);
  EXPECT_EQ(check->result().outcome(), v1::OUTCOME_OK);
  EXPECT_FALSE(check->result().has_host_key());
  // A known identification that differs triggers the exchange.
  o.hostkey_known_identification = "SSH-2.0-OpenSSH_1.0";
  auto check2 = probe::SshCheck::Create(io, o);
  done = false;
  io.restart();
  probe::StartWithDeadline(io, check2, milliseconds(5000), [&] { done = true; });
  for (int i = 0; i < 400 && !done; ++i) io.run_for(milliseconds(20));
  ASSERT_TRUE(done);
  ASSERT_TRUE(check2->result().has_host_key());
  EXPECT_EQ(check2->result().host_key().fingerprint(), KeygenFingerprint(key + ".pub"));
}

}  // namespace
}  // namespace parallax::testing
