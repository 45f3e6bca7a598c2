// Bad input reaches the collector from probes and config files: each case
// gets a clear error naming the field, and the collector keeps serving.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "parallax/v1/probe.grpc.pb.h"
#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::seconds;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.Configure({{"fast", "127.0.0.1", fast_.port()}}, "1s", "500ms");
    cluster_.StartCollector();
    stub_ = v1::ProbeService::NewStub(
        grpc::CreateChannel(cluster_.collector_address(), grpc::InsecureChannelCredentials()));
  }

  static v1::ProbeMessage Hello(const std::string& name) {
    v1::ProbeMessage m;
    m.mutable_hello()->set_probe_name(name);
    m.mutable_hello()->set_boot_id("boot-" + name);
    m.mutable_hello()->set_version("test");
    return m;
  }

  void ExpectCollectorServes() {
    EXPECT_TRUE(cluster_.collector()->running()) << cluster_.collector()->log();
    EXPECT_TRUE(cluster_.CliJson({"status"}).contains("targets")) << cluster_.last_cli_error();
  }

  TempDir dir_;
  Listener fast_{Listener::Kind::kFastSsh};
  Cluster cluster_{dir_};
  std::unique_ptr<v1::ProbeService::Stub> stub_;
};

TEST_F(BadInputTest, ResultsBeforeHelloAreRefusedWithAReason) {
  grpc::ClientContext ctx;
  auto stream = stub_->Connect(&ctx);
  v1::ProbeMessage m;
  m.mutable_results()->add_results()->set_seq(1);
  stream->Write(m);
  stream->WritesDone();
  v1::CollectorMessage in;
  EXPECT_FALSE(stream->Read(&in));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("first message"), std::string::npos) << st.error_message();
  ExpectCollectorServes();
}

TEST_F(BadInputTest, InvalidHelloNamesTheField) {
  grpc::ClientContext ctx;
  auto stream = stub_->Connect(&ctx);
  stream->Write(Hello("bad name!"));
  v1::CollectorMessage in;
  EXPECT_FALSE(stream->Read(&in));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("hello.probe_name"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("bad name!"), std::string::npos);
  ExpectCollectorServes();
}

TEST_F(BadInputTest, OversizeMessageIsRefusedAndTheCollectorLives) {
  grpc::ClientContext ctx;
  auto stream = stub_->Connect(&ctx);
  ASSERT_TRUE(stream->Write(Hello("big")));
  v1::CollectorMessage in;
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_welcome());
  v1::ProbeMessage m;
  v1::CheckResult* r = m.mutable_results()->add_results();
  r->set_seq(1);
  r->set_target("fast");
  r->set_outcome(v1::OUTCOME_OK);
  r->set_detail(std::string(5 * 1024 * 1024, 'x'));  // over the 4 MiB limit
  stream->Write(m);
  while (stream->Read(&in)) {
  }
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  ExpectCollectorServes();
}

TEST_F(BadInputTest, UnknownFieldsAreIgnoredAndInvalidResultsDroppedButAcked) {
  grpc::ClientContext ctx;
  auto stream = stub_->Connect(&ctx);
  // A hello from a newer probe: an extra field (number 99) this collector
  // does not know.
  v1::Hello hello = Hello("newer").hello();
  std::string hello_bytes = hello.SerializeAsString() + std::string("\x98\x06\x07", 3);  // field 99 = 7
  v1::ProbeMessage with_unknown;
  ASSERT_TRUE(with_unknown.mutable_hello()->ParseFromString(hello_bytes));
  ASSERT_TRUE(stream->Write(with_unknown));
  v1::CollectorMessage in;
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_welcome());
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_assignment());
  EXPECT_EQ(in.assignment().targets_size(), 1);

  v1::ProbeMessage batch;
  for (int i = 1; i <= 3; ++i) {
    v1::CheckResult* r = batch.mutable_results()->add_results();
    r->set_seq(i);
    r->set_target("fast");
    r->set_started_unix_ms(1700000000000 + i);
    r->set_outcome(i == 2 ? static_cast<v1::Outcome>(99) : v1::OUTCOME_OK);
  }
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_ack()) << in.DebugString();
  EXPECT_EQ(in.ack().seq(), 3u);
  stream->WritesDone();
  while (stream->Read(&in)) {
  }
  EXPECT_TRUE(stream->Finish().ok());

  auto rows = SqliteQuery(cluster_.db_path(), kStoredResultsSql);
  EXPECT_EQ(rows, std::vector<std::string>{"2"});
  std::string metrics = cluster_.Metrics();
  EXPECT_EQ(MetricValue(metrics, R"(parallax_ingest_results_total{reason="invalid",result="rejected"})"), 1)
      << metrics;
  EXPECT_NE(cluster_.collector()->log().find("results[1].outcome: 99"), std::string::npos)
      << cluster_.collector()->log();
}

TEST_F(BadInputTest, SecondStreamOfAProbeNameReplacesTheFirst) {
  grpc::ClientContext ctx1, ctx2;
  auto first = stub_->Connect(&ctx1);
  ASSERT_TRUE(first->Write(Hello("twin")));
  v1::CollectorMessage in;
  ASSERT_TRUE(first->Read(&in));
  auto second = stub_->Connect(&ctx2);
  ASSERT_TRUE(second->Write(Hello("twin")));
  ASSERT_TRUE(second->Read(&in));
  EXPECT_TRUE(in.has_welcome());
  while (first->Read(&in)) {
  }
  grpc::Status st = first->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_NE(st.error_message().find("replaced by a newer stream"), std::string::npos)
      << st.error_message();
  // The second stream is the live one.
  nlohmann::json status = cluster_.CliJson({"status"});
  bool connected = false;
  for (const auto& p : status["probes"]) {
    if (p["name"] == "twin") connected = p["connected"];
  }
  EXPECT_TRUE(connected) << status.dump(2);
  ctx2.TryCancel();
}

TEST_F(BadInputTest, FailedReloadKeepsTheOldConfigAndAGoodOneIsPushed) {
  cluster_.StartProbe("p1", {{"network", "loopback"}});
  ASSERT_TRUE(cluster_.WaitForOutcomes({{{"fast", "p1"}, "ok"}}, seconds(15)));
  std::string good = ReadFile(cluster_.config_path());

  WriteFile(cluster_.config_path(), good + "  - name: broken\n    host: 127.0.0.1\n    port: 70000\n");
  cluster_.collector()->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return cluster_.collector()->log().find("reload failed") != std::string::npos; },
                      seconds(10)));
  EXPECT_NE(cluster_.collector()->log().find("70000"), std::string::npos) << cluster_.collector()->log();
  ExpectCollectorServes();

  Listener http(Listener::Kind::kHttp);
  WriteFile(cluster_.config_path(),
            good + "  - name: added\n    host: 127.0.0.1\n    port: " + std::to_string(http.port()) + "\n");
  cluster_.collector()->Signal(SIGHUP);
  EXPECT_TRUE(cluster_.WaitForOutcomes({{{"fast", "p1"}, "ok"}, {{"added", "p1"}, "not_ssh"}}, seconds(15)))
      << cluster_.collector()->log() << cluster_.probe("p1")->log();
}

TEST(ConfigCheck, BadConfigIsRejectedWithFieldValueAndLine) {
  TempDir dir;
  std::string path = dir.File("bad.yaml");
  WriteFile(path, "listen: 127.0.0.1:7420\ntargets:\n  - name: web\n    host: example.invalid\n    port: 70000\n");
  CommandResult r = RunCommand({CollectorBinary(), "--config", path, "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("port"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("70000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5"), std::string::npos) << r.err;

  WriteFile(path, "targets:\n  - name: web\n    host: example.invalid\n");
  r = RunCommand({CollectorBinary(), "--config", path, "--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("OK"), std::string::npos);

  r = RunCommand({CollectorBinary(), "--config", dir.File("missing.yaml"), "--check-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

TEST(ConfigCheck, PlaintextNeedsAnExplicitInsecure) {
  TempDir dir;
  std::string path = dir.File("c.yaml");
  WriteFile(path, "listen: 127.0.0.1:" + std::to_string(FreePort()) + "\nmetrics_listen: 127.0.0.1:" +
                      std::to_string(FreePort()) + "\nstorage:\n  path: " + dir.File("db") +
                      "\ntargets: []\n");
  CommandResult r = RunCommand({CollectorBinary(), "--config", path}, seconds(10));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--insecure"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace parallax::testing
