// Trust between real processes over mTLS, with certificates from the shipped
// deploy/certs/make-certs.sh: a probe is who its certificate says (an
// impostor is refused, a stream is replaced only by the same identity),
// pinned labels hold, roles separate probes, readers and admins, revocation
// cuts live streams on reload, results for unassigned targets are rejected,
// and plaintext stays on loopback.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "parallax/v1/probe.grpc.pb.h"
#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

std::string Connected(const std::string& probe) {
  return "parallax_probe_connected{probe=\"" + probe + "\"}";
}

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult r =
        RunCommand({PARALLAX_SOURCE_DIR "/deploy/certs/make-certs.sh", "-o", dir_.File("certs"),
                    "-c", "localhost,127.0.0.1", "-r", "alice", "-a", "bob", "fra1", "ams1"},
                   std::chrono::seconds(120));  // a dozen openssl runs: slow on a loaded CI box
    // openssl is a dependency (deploy/install-deps.sh): failing to make
    // certificates is a failure, never a skip.
    ASSERT_EQ(r.exit_code, 0) << "make-certs.sh failed: " << r.err << r.out;
    certs_ok_ = true;
  }

  std::string Cert(const std::string& file) const { return dir_.File("certs/" + file); }
  std::vector<std::string> Tls(const std::string& who) const {
    return {"--ca", Cert("ca.pem"), "--cert", Cert(who + ".pem"), "--key", Cert(who + ".key")};
  }
  std::string TlsYaml(const std::string& more = "") const {
    return "tls:\n  cert: " + Cert("collector.pem") + "\n  key: " + Cert("collector.key") +
           "\n  client_ca: " + Cert("ca.pem") + "\n" + more;
  }
  std::string Serial(const std::string& who) const {
    CommandResult r =
        RunCommand({"openssl", "x509", "-in", Cert(who + ".pem"), "-noout", "-serial"});
    std::string s = r.out.substr(r.out.find('=') + 1);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
  bool WaitMetric(const std::string& series, double value, seconds timeout = seconds(20)) {
    return WaitFor([&] { return MetricValue(cluster_.Metrics(), series) == value; }, timeout);
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  Listener fast_{Listener::Kind::kFastSsh};
  bool certs_ok_ = false;
};

TEST_F(TrustTest, ImpersonationIsRefusedAndOnlyTheSameIdentityReplaces) {
  cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms",
                     TlsYaml("probes:\n  fra1:\n    labels: {network: isp-a}\n"));
  cluster_.StartCollector({});
  cluster_.StartProbe("fra1", {{"network", "isp-a"}}, Tls("probe-fra1"));
  ASSERT_TRUE(WaitMetric(Connected("fra1"), 1)) << cluster_.collector()->log();

  // ams1's key, posing as fra1 in another network: refused, fra1 untouched.
  std::vector<std::string> argv = {ProbeBinary(),     "--collector", cluster_.collector_address(),
                                   "--name",          "fra1",        "--label",
                                   "network=evil-net"};
  for (const std::string& a : Tls("probe-ams1")) argv.push_back(a);
  argv.insert(argv.end(), {"--state-dir", dir_.File("impostor-state")});
  Process impostor(argv, dir_.File("impostor.log"));
  bool refused = WaitFor(
      [&] {
        return cluster_.collector()->log().find("but the client certificate is probe \"ams1\"") !=
               std::string::npos;
      },
      seconds(20));
  EXPECT_TRUE(refused) << cluster_.collector()->log();
  EXPECT_NE(cluster_.collector()->log().find("hello names probe \"fra1\""), std::string::npos);
  // The impostor is told why (code 7 = PERMISSION_DENIED).
  EXPECT_TRUE(WaitFor(
      [&] {
        return impostor.log().find("but the client certificate is probe \"ams1\"") !=
                   std::string::npos &&
               impostor.log().find("(code 7)") != std::string::npos;
      },
      seconds(10)))
      << impostor.log();
  std::string metrics = cluster_.Metrics();
  EXPECT_EQ(MetricValue(metrics, Connected("fra1")), 1);
  EXPECT_TRUE(
      std::isnan(MetricValue(metrics, R"(parallax_ingest_streams_total{event="replaced"})")))
      << metrics;
  EXPECT_EQ(metrics.find("evil-net"), std::string::npos);
  EXPECT_GE(MetricValue(metrics, R"(parallax_ingest_streams_total{event="refused"})"), 1);

  // fra1's own key with a label the config pins otherwise: refused too.
  std::vector<std::string> moved = {ProbeBinary(),     "--collector", cluster_.collector_address(),
                                    "--name",          "fra1",        "--label",
                                    "network=evil-net"};
  for (const std::string& a : Tls("probe-fra1")) moved.push_back(a);
  moved.insert(moved.end(), {"--state-dir", dir_.File("moved-state")});
  Process mover(moved, dir_.File("mover.log"));
  EXPECT_TRUE(WaitFor(
      [&] {
        return cluster_.collector()->log().find(
                   "pins network=\"isp-a\" (probes.fra1.labels.network)") != std::string::npos;
      },
      seconds(20)))
      << cluster_.collector()->log();
  mover.Signal(SIGKILL);
  impostor.Signal(SIGKILL);

  // The same identity (a restarted fra1) replaces its old stream.
  std::vector<std::string> again = {ProbeBinary(),  "--collector", cluster_.collector_address(),
                                    "--name",       "fra1",        "--label",
                                    "network=isp-a"};
  for (const std::string& a : Tls("probe-fra1")) again.push_back(a);
  again.insert(again.end(), {"--state-dir", dir_.File("again-state"), "--allow-loopback"});
  Process second(again, dir_.File("fra1-second.log"));
  EXPECT_TRUE(WaitMetric(R"(parallax_ingest_streams_total{event="replaced"})", 1))
      << cluster_.collector()->log();
  EXPECT_EQ(MetricValue(cluster_.Metrics(),
                        R"(parallax_probe_info{network="isp-a",probe="fra1",site=""})"),
            1)
      << cluster_.Metrics();
}

TEST_F(TrustTest, RolesSeparateProbesReadersAndAdmins) {
  cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms", TlsYaml());
  cluster_.StartCollector({});
  cluster_.StartProbe("fra1", {{"network", "isp-a"}}, Tls("probe-fra1"));
  // A reader and an admin may query.
  nlohmann::json status;
  EXPECT_TRUE(WaitFor(
      [&] {
        status = cluster_.CliJson({"status"}, Tls("reader-alice"));
        return cluster_.Outcome(status, "fast", "fra1") == "ok";
      },
      seconds(20)))
      << status.dump() << cluster_.last_cli_error() << cluster_.collector()->log();
  EXPECT_TRUE(cluster_.CliJson({"status"}, Tls("admin-bob")).contains("targets"))
      << cluster_.last_cli_error();
  // A probe certificate cannot query.
  EXPECT_FALSE(cluster_.CliJson({"status"}, Tls("probe-fra1")).contains("targets"));
  EXPECT_NE(cluster_.last_cli_error().find("may not call /parallax.v1.QueryService/Status"),
            std::string::npos)
      << cluster_.last_cli_error();
  // A reader certificate cannot connect as a probe.
  std::vector<std::string> argv = {ProbeBinary(), "--collector", cluster_.collector_address(),
                                   "--name", "alice"};
  for (const std::string& a : Tls("reader-alice")) argv.push_back(a);
  argv.insert(argv.end(), {"--state-dir", dir_.File("alice-state")});
  Process reader_as_probe(argv, dir_.File("reader-probe.log"));
  EXPECT_TRUE(WaitFor(
      [&] {
        return cluster_.collector()->log().find("reader \"alice\"") != std::string::npos &&
               cluster_.collector()->log().find("may not connect as a probe") != std::string::npos;
      },
      seconds(20)))
      << cluster_.collector()->log();
  EXPECT_TRUE(std::isnan(MetricValue(cluster_.Metrics(), Connected("alice"))));
}

TEST_F(TrustTest, RevokedCertificatesAreCutWithinOneReload) {
  cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms", TlsYaml());
  cluster_.StartCollector({});
  cluster_.StartProbe("fra1", {{"network", "isp-a"}}, Tls("probe-fra1"));
  cluster_.StartProbe("ams1", {{"network", "isp-b"}}, Tls("probe-ams1"));
  ASSERT_TRUE(WaitMetric(Connected("fra1"), 1)) << cluster_.collector()->log();
  ASSERT_TRUE(WaitMetric(Connected("ams1"), 1)) << cluster_.collector()->log();
  ASSERT_TRUE(cluster_.CliJson({"status"}, Tls("reader-alice")).contains("targets"));

  // Revoke ams1 by serial and alice by identity, then reload.
  cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms",
                     TlsYaml("revoked:\n  - serial:" + Serial("probe-ams1") + "\n  - alice\n"));
  cluster_.collector()->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        return cluster_.collector()->log().find("config reloaded: generation 2") != std::string::npos;
      },
      seconds(30)))
      << cluster_.collector()->log();
  EXPECT_TRUE(WaitMetric(Connected("ams1"), 0)) << cluster_.collector()->log();
  EXPECT_NE(cluster_.collector()->log().find("closing the stream of probe ams1"), std::string::npos)
      << cluster_.collector()->log();
  EXPECT_FALSE(cluster_.CliJson({"status"}, Tls("reader-alice")).contains("targets"));
  EXPECT_NE(cluster_.last_cli_error().find("certificate revoked"), std::string::npos)
      << cluster_.last_cli_error();
  EXPECT_TRUE(cluster_.CliJson({"status"}, Tls("admin-bob")).contains("targets"));
  // ams1 keeps trying and keeps being refused; fra1 is untouched.
  std::this_thread::sleep_for(seconds(2));
  std::string metrics = cluster_.Metrics();
  EXPECT_EQ(MetricValue(metrics, Connected("ams1")), 0);
  EXPECT_EQ(MetricValue(metrics, Connected("fra1")), 1);
}

TEST(Trust, ResultsForUnassignedTargetsAreRejectedAndCounted) {
  TempDir dir;
  Listener fast(Listener::Kind::kFastSsh);
  Cluster cluster(dir);
  cluster.set_storage_extra("  compaction: off\n");  // counts stored result rows
  cluster.Configure({{"fast", "127.0.0.1", fast.port()},
                     {"other", "127.0.0.1", fast.port(), "    probes: {network: elsewhere}\n"}},
                    "1s", "500ms");
  cluster.StartCollector();
  auto stub = v1::ProbeService::NewStub(
      grpc::CreateChannel(cluster.collector_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Connect(&ctx);
  v1::ProbeMessage hello;
  hello.mutable_hello()->set_probe_name("p1");
  hello.mutable_hello()->set_boot_id("boot-1");
  (*hello.mutable_hello()->mutable_labels())["network"] = "here";
  ASSERT_TRUE(stream->Write(hello));
  v1::CollectorMessage in;
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_welcome());
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_assignment());
  ASSERT_EQ(in.assignment().targets_size(), 1);
  v1::ProbeMessage m;
  int seq = 0;
  for (const char* target : {"fast", "other", "never-configured"}) {
    v1::CheckResult* r = m.mutable_results()->add_results();
    r->set_seq(++seq);
    r->set_target(target);
    r->set_outcome(v1::OUTCOME_OK);
    r->set_started_unix_ms(1);
  }
  ASSERT_TRUE(stream->Write(m));
  ASSERT_TRUE(stream->Read(&in));
  EXPECT_TRUE(in.has_ack());
  EXPECT_EQ(in.ack().seq(), 3u);
  std::string metrics = cluster.Metrics();
  EXPECT_EQ(MetricValue(metrics,
                        R"(parallax_ingest_results_total{reason="unassigned",result="rejected"})"),
            2)
      << metrics;
  stream->WritesDone();
  ctx.TryCancel();
  std::vector<std::string> rows =
      SqliteQuery(cluster.db_path(),
                  "SELECT COUNT(*) FROM results r JOIN targets t ON t.id = r.target_id "
                  "WHERE t.name != 'fast'");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], "0");
}

TEST(Trust, PlaintextListensOnLoopbackOnly) {
  TempDir dir;
  WriteFile(dir.File("remote.yaml"),
            "listen: 0.0.0.0:0\nmetrics_listen: 127.0.0.1:0\nstorage:\n  path: " +
                dir.File("p.db") + "\ntargets: []\n");
  CommandResult r =
      RunCommand({CollectorBinary(), "--config", dir.File("remote.yaml"), "--insecure"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("loopback only"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--insecure-allow-remote"), std::string::npos) << r.err;
  // With the explicit flag it serves (and warns).
  Process collector({CollectorBinary(), "--config", dir.File("remote.yaml"), "--insecure",
                     "--insecure-allow-remote"},
                    dir.File("collector.log"));
  EXPECT_TRUE(WaitFor([&] { return collector.log().find("gRPC on 0.0.0.0") != std::string::npos; },
                      seconds(15)))
      << collector.log();
  EXPECT_TRUE(collector.running());
}

}  // namespace
}  // namespace parallax::testing
