// Enrollment between real processes over real TLS (certificates from the
// shipped deploy/certs/make-certs.sh): `parallax-collector token create`
// prints a command, `parallax-probe enroll` runs it, and the probe then
// connects with the enrolled certificate as its name. Reused, expired and
// other-name tokens are refused; a wrong CA fingerprint is refused before
// the token is sent (so the token still works); enrollment without a CA key
// is off and says so; callers without a certificate may only enroll.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>
#include <thread>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

class EnrollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult r = RunCommand({PARALLAX_SOURCE_DIR "/deploy/certs/make-certs.sh", "-o",
                                  dir_.File("certs"), "-c", "localhost,127.0.0.1", "-r", "alice"});
    if (r.exit_code != 0) GTEST_SKIP() << "make-certs.sh failed (openssl?): " << r.err;
  }

  std::string Cert(const std::string& file) const { return dir_.File("certs/" + file); }
  std::string TlsYaml(const std::string& cert = "") const {
    return "tls:\n  cert: " + (cert.empty() ? Cert("collector.pem") : cert) +
           "\n  key: " + Cert("collector.key") + "\n  client_ca: " + Cert("ca.pem") + "\n";
  }
  std::string EnrollYaml() const {
    return "enroll:\n  ca_key: " + Cert("ca.key") + "\n  tokens: " + dir_.File("tokens") + "\n";
  }
  void StartEnrollingCollector() {
    cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms",
                       TlsYaml() + EnrollYaml());
    cluster_.StartCollector({});
  }
  // `parallax-collector --config FILE token create --name NAME --ttl TTL`.
  CommandResult TokenCreate(const std::string& name, const std::string& ttl = "1h") {
    return RunCommand({CollectorBinary(), "--config", cluster_.config_path(), "token", "create",
                       "--name", name, "--ttl", ttl});
  }
  // The `parallax-probe enroll ...` line token create printed, as argv.
  static std::vector<std::string> PrintedCommand(const std::string& out) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("  parallax-probe enroll ", 0) != 0) continue;
      std::istringstream words(line);
      std::vector<std::string> argv;
      std::string w;
      while (words >> w) argv.push_back(w);
      argv[0] = ProbeBinary();
      return argv;
    }
    return {};
  }
  static std::string Field(const std::string& out, const std::string& key) {
    size_t at = out.find(key + ": ");
    if (at == std::string::npos) return "";
    at += key.size() + 2;
    return out.substr(at, out.find_first_of(" \n", at) - at);
  }
  CommandResult Enroll(std::vector<std::string> argv, const std::string& state) {
    argv.insert(argv.end(), {"--state-dir", dir_.File(state)});
    return RunCommand(argv, seconds(40));
  }
  static void Replace(std::vector<std::string>* argv, const std::string& flag,
                      const std::string& value) {
    for (size_t i = 0; i + 1 < argv->size(); ++i) {
      if ((*argv)[i] == flag) (*argv)[i + 1] = value;
    }
  }

  // The commands docs/DEPLOY.md shows in "A new site in one command" (sh
  // blocks), without `sudo -u USER`, as argv: {token create, enroll}.
  static std::vector<std::vector<std::string>> DocCommands() {
    std::istringstream in(ReadFile(PARALLAX_SOURCE_DIR "/docs/DEPLOY.md"));
    std::string line;
    bool in_section = false, in_sh = false;
    std::vector<std::vector<std::string>> out;
    while (std::getline(in, line)) {
      if (line.rfind("#", 0) == 0 && !in_sh)
        in_section = line.find("A new site in one command") != std::string::npos;
      if (line.rfind("```", 0) == 0) {
        in_sh = !in_sh && line == "```sh";
        continue;
      }
      if (!in_section || !in_sh) continue;
      std::istringstream words(line);
      std::vector<std::string> argv;
      std::string w;
      while (words >> w) argv.push_back(w);
      if (argv.size() > 3 && argv[0] == "sudo" && argv[1] == "-u")
        argv.erase(argv.begin(), argv.begin() + 3);
      if (argv.size() > 1 && (argv[0] == "parallax-collector" ||
                              (argv[0] == "parallax-probe" && argv[1] == "enroll"))) {
        out.push_back(argv);
      }
    }
    return out;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  Listener fast_{Listener::Kind::kFastSsh};
};

TEST_F(EnrollTest, EndToEndThenTheProbeRunsWithItsEnrolledCertificate) {
  StartEnrollingCollector();
  // docs/DEPLOY.md's token create, on this collector's config.
  std::vector<std::vector<std::string>> docs = DocCommands();
  ASSERT_EQ(docs.size(), 2u) << "docs/DEPLOY.md: token create and enroll";
  std::vector<std::string> create = docs[0];
  ASSERT_EQ(create[0], "parallax-collector");
  create[0] = CollectorBinary();
  for (std::string& a : create) {
    if (a == "/etc/parallax/collector.yaml") a = cluster_.config_path();
  }
  CommandResult created = RunCommand(create);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::vector<std::string> cmd = PrintedCommand(created.out);
  ASSERT_FALSE(cmd.empty()) << created.out;
  // The printed command is the documented one, with this token and CA.
  std::vector<std::string> documented = docs[1];
  documented[0] = ProbeBinary();
  Replace(&documented, "--collector", cluster_.collector_address());
  Replace(&documented, "--token", Field(created.out, "token"));
  Replace(&documented, "--ca-fingerprint", Field(created.out, "ca_fingerprint"));
  EXPECT_EQ(documented, cmd);
  // The fingerprint printed is openssl's for the CA.
  CommandResult fp =
      RunCommand({"openssl", "x509", "-in", Cert("ca.pem"), "-noout", "-fingerprint", "-sha256"});
  EXPECT_NE(fp.out.find(Field(created.out, "ca_fingerprint")), std::string::npos)
      << fp.out << created.out;
  // Only the token's hash is stored.
  std::string token = Field(created.out, "token");
  ASSERT_EQ(token.size(), 64u);
  EXPECT_EQ(ReadFile(dir_.File("tokens")).find(token), std::string::npos);

  CommandResult enrolled = Enroll(cmd, "fra1-state");
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err << cluster_.collector()->log();
  EXPECT_NE(enrolled.out.find("enrolled as probe \"fra1\""), std::string::npos) << enrolled.out;
  struct stat sb;
  ASSERT_EQ(stat(dir_.File("fra1-state/enroll/probe.key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  CommandResult san =
      RunCommand({"openssl", "x509", "-in", dir_.File("fra1-state/enroll/probe.pem"), "-noout",
                  "-ext", "subjectAltName"});
  EXPECT_NE(san.out.find("URI:parallax:probe/fra1"), std::string::npos) << san.out;
  EXPECT_NE(cluster_.collector()->log().find("enrolled probe \"fra1\""), std::string::npos);

  // The probe, started with its state directory only (no TLS flags, no
  // --insecure), uses the enrolled credentials and is fra1 to the collector.
  cluster_.StartProbe("fra1", {{"network", "isp-a"}}, {"--state-dir", dir_.File("fra1-state")});
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricValue(cluster_.Metrics(), "parallax_probe_connected{probe=\"fra1\"}") == 1;
      },
      seconds(20)))
      << cluster_.probe("fra1")->log() << cluster_.collector()->log();
  EXPECT_NE(cluster_.probe("fra1")->log().find("using the enrolled credentials in"),
            std::string::npos)
      << cluster_.probe("fra1")->log();
  nlohmann::json probes =
      cluster_.CliJson({"probes"}, {"--ca", Cert("ca.pem"), "--cert", Cert("reader-alice.pem"),
                                    "--key", Cert("reader-alice.key")});
  EXPECT_NE(probes.dump().find("\"fra1\""), std::string::npos)
      << probes.dump() << cluster_.last_cli_error();

  // The same token again: refused.
  CommandResult reused = Enroll(cmd, "again-state");
  EXPECT_EQ(reused.exit_code, 1);
  EXPECT_NE(reused.err.find("token already used"), std::string::npos) << reused.err;
  struct stat none;
  EXPECT_NE(stat(dir_.File("again-state/enroll/probe.key").c_str(), &none), 0)
      << "nothing stored after a refusal";

  // A caller without a client certificate may enroll, nothing else.
  CommandResult cli = RunCommand(
      {CliBinary(), "--collector", cluster_.collector_address(), "--ca", Cert("ca.pem"), "status"});
  EXPECT_EQ(cli.exit_code, 2);
  EXPECT_NE(cli.err.find("no client certificate"), std::string::npos) << cli.err;
}

TEST_F(EnrollTest, ExpiredAndOtherNameTokensAreRefused) {
  StartEnrollingCollector();
  CommandResult created = TokenCreate("fra1", "1s");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::vector<std::string> cmd = PrintedCommand(created.out);
  ASSERT_FALSE(cmd.empty()) << created.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  CommandResult expired = Enroll(cmd, "expired-state");
  EXPECT_EQ(expired.exit_code, 1);
  EXPECT_NE(expired.err.find("token expired"), std::string::npos) << expired.err;

  created = TokenCreate("fra1");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  cmd = PrintedCommand(created.out);
  std::vector<std::string> other = cmd;
  Replace(&other, "--name", "ams1");
  CommandResult wrong = Enroll(other, "ams1-state");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("issued for probe \"fra1\", not \"ams1\""), std::string::npos)
      << wrong.err;
  // Refused for the wrong name, the token still enrolls the right one.
  CommandResult right = Enroll(cmd, "fra1-state");
  EXPECT_EQ(right.exit_code, 0) << right.err;
  EXPECT_EQ(TokenCreate("fra1", "8d").exit_code, 2) << "ttl bounded to 7 days";
}

TEST_F(EnrollTest, WrongCaFingerprintIsRefusedBeforeTheTokenIsSent) {
  StartEnrollingCollector();
  CommandResult created = TokenCreate("fra1");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::vector<std::string> cmd = PrintedCommand(created.out);
  ASSERT_FALSE(cmd.empty());
  std::vector<std::string> wrong = cmd;
  // Another CA's fingerprint: a collector impersonated with that CA.
  ASSERT_EQ(RunCommand({PARALLAX_SOURCE_DIR "/deploy/certs/make-certs.sh", "-o", dir_.File("other"),
                        "-c", "localhost"})
                .exit_code,
            0);
  CommandResult other_fp = RunCommand(
      {"openssl", "x509", "-in", dir_.File("other/ca.pem"), "-noout", "-fingerprint", "-sha256"});
  std::string fp = other_fp.out.substr(other_fp.out.find('=') + 1);
  fp.erase(fp.find_last_not_of("\n\r") + 1);
  Replace(&wrong, "--ca-fingerprint", fp);
  CommandResult refused = Enroll(wrong, "wrong-state");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("refused, token not sent"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(fp), std::string::npos) << refused.err;
  // The collector never saw an enrollment attempt; the token is unused.
  EXPECT_EQ(cluster_.collector()->log().find("enroll of"), std::string::npos)
      << cluster_.collector()->log();
  CommandResult ok = Enroll(cmd, "fra1-state");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  // A malformed fingerprint is a usage error.
  Replace(&wrong, "--ca-fingerprint", "12:34");
  EXPECT_EQ(Enroll(wrong, "bad-state").exit_code, 2);
}

TEST_F(EnrollTest, WithoutACaKeyEnrollmentIsOffAndSaysSo) {
  // The collector's chain carries the CA (a bundle), so the probe's pin
  // holds and its request reaches the EnrollService, which is off.
  WriteFile(dir_.File("bundle.pem"), ReadFile(Cert("collector.pem")) + ReadFile(Cert("ca.pem")));
  cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms",
                     TlsYaml(dir_.File("bundle.pem")));
  cluster_.StartCollector({});
  CommandResult created = TokenCreate("fra1");
  EXPECT_EQ(created.exit_code, 2);
  EXPECT_NE(created.err.find("enrollment is off: set enroll.ca_key in " + cluster_.config_path()),
            std::string::npos)
      << created.err;
  CommandResult fp =
      RunCommand({"openssl", "x509", "-in", Cert("ca.pem"), "-noout", "-fingerprint", "-sha256"});
  std::string fingerprint = fp.out.substr(fp.out.find('=') + 1);
  fingerprint.erase(fingerprint.find_last_not_of("\n\r") + 1);
  CommandResult r =
      Enroll({ProbeBinary(), "enroll", "--collector", cluster_.collector_address(), "--token",
              std::string(64, 'a'), "--name", "fra1", "--ca-fingerprint", fingerprint},
             "off-state");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("enrollment is off: set enroll.ca_key in " + cluster_.config_path()),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(code 9)"), std::string::npos) << r.err;  // FAILED_PRECONDITION
}

TEST(EnrollConfig, CaKeyWithoutTlsIsRefused) {
  TempDir dir;
  WriteFile(dir.File("c.yaml"), "enroll: {ca_key: /nonexistent/ca.key}\ntargets:\n");
  CommandResult r =
      RunCommand({CollectorBinary(), "--config", dir.File("c.yaml"), "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("enroll.ca_key: is set without tls.cert"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace parallax::testing
