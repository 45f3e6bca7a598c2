// The whole collector in one process, with every kind of thread it runs at
// work at once: gRPC callback threads (probe streams, queries), the store's
// writer thread (commits, acks from its callbacks), the evaluator's thread,
// the metrics endpoint's threads, the status page's threads (web_listen,
// pages rendered from the live state while it changes) and a controlling
// thread reloading the config. It checks that every result sent is acked while all of that runs
// concurrently; under ASan (label asan) it looks for memory errors between
// them. (Under TSan, Debian's uninstrumented gRPC buries it in false
// reports: see deploy/run-sanitizers.sh.)
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "collector/config/config.h"
#include "collector/server/collector.h"
#include "parallax/v1/probe.grpc.pb.h"
#include "parallax/v1/query.grpc.pb.h"

namespace parallax::collector {
namespace {

constexpr int kProbes = 3;
constexpr int kBatches = 20;
constexpr int kPerBatch = 10;

std::string ConfigYaml(const std::string& db, int targets) {
  std::string y =
      "listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\nweb_listen: 127.0.0.1:0\n"
      "storage:\n  path: " +
      db + "\ndiagnosis:\n  evaluate_every: 100ms\ninterval: 1s\ntimeout: 500ms\ntargets:\n";
  for (int i = 0; i < targets; ++i) {
    y += "  - {name: t" + std::to_string(i) +
         ", host: 127.0.0.1, port: " + std::to_string(2200 + i) + "}\n";
  }
  return y;
}

Config MustParse(const std::string& yaml) {
  Config c;
  Status st = ParseConfig(yaml, "test.yaml", &c);
  EXPECT_TRUE(st.ok()) << st.message();
  return c;
}

// GET http://127.0.0.1:port/path with a bounded wait; the status line.
std::string HttpStatusLine(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out.substr(0, out.find("\r\n"));
}

// One probe: Hello, then kBatches batches of results, each acked before the
// next is sent, plus heartbeats. Returns the highest seq acked.
uint64_t RunProbe(int port, int index) {
  auto stub = v1::ProbeService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Connect(&ctx);
  v1::ProbeMessage hello;
  hello.mutable_hello()->set_probe_name("p" + std::to_string(index));
  hello.mutable_hello()->set_boot_id("boot" + std::to_string(index));
  (*hello.mutable_hello()->mutable_labels())["site"] = "s" + std::to_string(index);
  if (!stream->Write(hello)) return 0;
  uint64_t seq = 0, acked = 0;
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  for (int b = 0; b < kBatches; ++b) {
    v1::ProbeMessage batch;
    for (int i = 0; i < kPerBatch; ++i) {
      v1::CheckResult* r = batch.mutable_results()->add_results();
      r->set_seq(++seq);
      r->set_target("t" + std::to_string(i % 4));
      r->set_outcome(b % 3 == 0 ? v1::OUTCOME_REFUSED : v1::OUTCOME_OK);
      r->set_started_unix_ms(now_ms + static_cast<int64_t>(seq));
      r->set_address("127.0.0.1:22");
      r->set_identification("SSH-2.0-test");
    }
    if (!stream->Write(batch)) break;
    v1::ProbeMessage hb;
    hb.mutable_heartbeat()->set_unix_ms(now_ms);
    hb.mutable_heartbeat()->set_spooled(kPerBatch);
    if (!stream->Write(hb)) break;
    v1::CollectorMessage in;
    while (acked < seq && stream->Read(&in)) {  // welcome, assignments, acks
      if (in.has_ack()) acked = in.ack().seq();
    }
    if (acked < seq) break;
  }
  stream->WritesDone();
  ctx.TryCancel();
  stream->Finish();
  return acked;
}

TEST(CollectorThreadsTest, ProbesQueriesEvaluatorAndReloadsAtOnce) {
  char tmpl[] = "/tmp/parallax-threads-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string db = dir + "/collector.db";

  std::unique_ptr<Collector> collector;
  Status st = Collector::Start(MustParse(ConfigYaml(db, 4)), {.insecure = true}, &collector);
  ASSERT_TRUE(st.ok()) << st.message();
  int port = collector->grpc_port();

  std::atomic<bool> stop{false};
  std::atomic<int> queries{0};
  std::thread reader([&] {
    auto stub = v1::QueryService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                              grpc::InsecureChannelCredentials()));
    while (!stop) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::StatusResponse resp;
      if (stub->Status(&ctx, v1::StatusRequest(), &resp).ok()) ++queries;
      grpc::ClientContext ctx2;
      ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::ExplainRequest er;
      er.set_target("t1");
      v1::ExplainResponse eresp;
      stub->Explain(&ctx2, er, &eresp);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  std::atomic<int> pages{0};
  int web_port = collector->web_port();
  ASSERT_GT(web_port, 0);
  std::thread browser([&] {
    while (!stop) {
      for (const char* path : {"/", "/api/status", "/target/t1", "/api/target/t1"}) {
        if (HttpStatusLine(web_port, path) == "HTTP/1.1 200 OK") ++pages;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  std::vector<std::thread> probes;
  std::vector<uint64_t> acked(kProbes, 0);
  for (int i = 0; i < kProbes; ++i) {
    probes.emplace_back([&, i] { acked[i] = RunProbe(port, i); });
  }
  // Reloads push new assignments to the connected streams meanwhile.
  for (int r = 0; r < 5; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = collector->Reload(MustParse(ConfigYaml(db, 4 + r % 2)));
    EXPECT_TRUE(st.ok()) << st.message();
  }
  for (auto& t : probes) t.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few evaluations
  stop = true;
  reader.join();
  browser.join();
  collector->Shutdown();
  collector.reset();

  for (int i = 0; i < kProbes; ++i) {
    EXPECT_EQ(acked[i], uint64_t{kBatches * kPerBatch}) << "probe p" << i;
  }
  EXPECT_GT(queries.load(), 0);
  EXPECT_GT(pages.load(), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parallax::collector
