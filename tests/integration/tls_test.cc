// TLS and mTLS between real processes: certificates made by openssl for
// this test only; the probe and the CLI authenticate with client
// certificates, and clients without one are turned away.
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

// A CA, a server certificate for 127.0.0.1/localhost, a probe client
// certificate (CN p1, no role URI: a probe) and a reader certificate for the
// CLI, all signed by the CA.
bool MakeCertificates(const TempDir& dir, std::string* why) {
  auto run = [&](const std::vector<std::string>& argv) {
    CommandResult r = RunCommand(argv);
    if (r.exit_code != 0) *why = argv[0] + " " + argv[1] + ": " + r.err;
    return r.exit_code == 0;
  };
  WriteFile(dir.File("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  WriteFile(dir.File("reader.ext"), "subjectAltName=URI:parallax:role/reader\n");
  return run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", dir.File("ca.key"), "-out", dir.File("ca.pem"), "-days", "2",
              "-subj", "/CN=parallax-test-ca"}) &&
         run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", dir.File("server.key"), "-out", dir.File("server.csr"), "-subj",
              "/CN=localhost"}) &&
         run({"openssl", "x509", "-req", "-in", dir.File("server.csr"), "-CA", dir.File("ca.pem"),
              "-CAkey", dir.File("ca.key"), "-CAcreateserial", "-out", dir.File("server.pem"),
              "-days", "2", "-extfile", dir.File("server.ext")}) &&
         run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", dir.File("client.key"), "-out", dir.File("client.csr"), "-subj",
              "/CN=p1"}) &&
         run({"openssl", "x509", "-req", "-in", dir.File("client.csr"), "-CA", dir.File("ca.pem"),
              "-CAkey", dir.File("ca.key"), "-CAcreateserial", "-out", dir.File("client.pem"),
              "-days", "2"}) &&
         run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", dir.File("reader.key"), "-out", dir.File("reader.csr"), "-subj",
              "/CN=cli"}) &&
         run({"openssl", "x509", "-req", "-in", dir.File("reader.csr"), "-CA", dir.File("ca.pem"),
              "-CAkey", dir.File("ca.key"), "-CAcreateserial", "-out", dir.File("reader.pem"),
              "-days", "2", "-extfile", dir.File("reader.ext")});
}

TEST(Tls, MutualTlsBetweenProbeCollectorAndCli) {
  TempDir dir;
  std::string why;
  if (!MakeCertificates(dir, &why)) GTEST_SKIP() << "openssl unavailable: " << why;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.Configure({{"fast", "127.0.0.1", fast.port()}}, "1s", "500ms",
                    "tls:\n  cert: " + dir.File("server.pem") + "\n  key: " +
                        dir.File("server.key") + "\n  client_ca: " + dir.File("ca.pem") + "\n");
  cluster.StartCollector({});
  std::vector<std::string> client_tls = {"--ca", dir.File("ca.pem"), "--cert",
                                         dir.File("client.pem"), "--key", dir.File("client.key")};
  cluster.StartProbe("p1", {{"network", "loopback"}}, client_tls);
  std::vector<std::string> reader_tls = {"--ca", dir.File("ca.pem"), "--cert",
                                         dir.File("reader.pem"), "--key", dir.File("reader.key")};

  nlohmann::json status;
  bool ok = WaitFor(
      [&] {
        status = cluster.CliJson({"status"}, reader_tls);
        return cluster.Outcome(status, "fast", "p1") == "ok";
      },
      seconds(20));
  EXPECT_TRUE(ok) << status.dump(2) << cluster.collector()->log() << cluster.probe("p1")->log();
  EXPECT_NE(cluster.collector()->log().find("mTLS"), std::string::npos);

  // Without a client certificate, or in plaintext, the CLI is turned away.
  std::vector<std::string> base = {CliBinary(), "--collector", cluster.collector_address(), "status"};
  std::vector<std::string> ca_only = base;
  ca_only.insert(ca_only.begin() + 1, {"--ca", dir.File("ca.pem")});
  EXPECT_NE(RunCommand(ca_only).exit_code, 0);
  std::vector<std::string> plain = base;
  plain.insert(plain.begin() + 1, "--insecure");
  CommandResult r = RunCommand(plain);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("parallax: collector"), std::string::npos) << r.err;
  // A bad path names the flag.
  std::vector<std::string> missing = base;
  missing.insert(missing.begin() + 1, {"--ca", dir.File("nope.pem")});
  r = RunCommand(missing);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--ca"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace parallax::testing
