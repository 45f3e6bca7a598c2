// ProbeStream on an in-process gRPC server (unix socket) with the in-memory
// FakeStore and a simulated clock: hello, clock stamping, ack only after
// commit, dedupe across reconnects, replacement, flow control, bad input.
#include "collector/ingest/probe_stream.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <thread>

#include "collector/store/fake_store.h"

namespace parallax::collector {
namespace {

using std::chrono::milliseconds;
constexpr int64_t kNow = 1'700'000'000'000;

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout = milliseconds(3000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return pred();
}

// FakeStore that records, per (probe, boot), the order of CommittedSeq()
// calls (one per Welcome) and result submissions.
class OrderingStore : public FakeStore {
 public:
  void SubmitResults(const std::string& probe, const std::string& boot_id,
                     std::vector<v1::CheckResult> results, CommitCallback done) override {
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      Counts& c = counts_[probe + "/" + boot_id];
      if (c.welcomes >= 2) ++c.after_second_welcome;
    }
    FakeStore::SubmitResults(probe, boot_id, std::move(results), std::move(done));
  }
  uint64_t CommittedSeq(const std::string& probe, const std::string& boot_id) const override {
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      ++counts_[probe + "/" + boot_id].welcomes;
    }
    return FakeStore::CommittedSeq(probe, boot_id);
  }
  int SubmissionsAfterSecondWelcome(const std::string& probe, const std::string& boot_id) const {
    std::lock_guard<std::mutex> lock(log_mu_);
    return counts_[probe + "/" + boot_id].after_second_welcome;
  }

 private:
  struct Counts {
    int welcomes = 0;
    int after_second_welcome = 0;
  };
  mutable std::mutex log_mu_;
  mutable std::map<std::string, Counts> counts_;
};

class ProbeStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = std::make_shared<Config>();
    TargetConfig t;
    t.name = "t1";
    t.host = "127.0.0.1";
    t.interval = std::chrono::seconds(1);
    t.timeout = milliseconds(500);
    config->targets.push_back(t);
    snapshot_ = {config, 1};
    deps_.store = &store_;
    deps_.state = &state_;
    deps_.metrics = &metrics_;
    deps_.hub = &hub_;
    deps_.config = [this] { return snapshot_; };
    deps_.now_ms = [this] { return now_.load(); };
    deps_.collector_version = "test";
    deps_.max_outstanding_batches = 2;
    service_ = std::make_unique<ProbeServiceImpl>(&deps_);
    socket_ = "unix:" + std::string(::testing::TempDir()) + "probe_stream_test." +
              std::to_string(getpid()) + ".sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        v1::ProbeService::NewStub(grpc::CreateChannel(socket_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + milliseconds(100));
    store_.CommitPending();
    server_->Wait();
  }

  // One probe's client end; reads on a thread so tests can check what has
  // (not) arrived.
  struct Client {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::ProbeMessage, v1::CollectorMessage>> stream;
    std::mutex mu;
    std::vector<v1::CollectorMessage> got;
    std::thread reader;
    grpc::Status status;
    std::atomic<bool> done{false};
    ~Client() {
      ctx.TryCancel();
      if (reader.joinable()) reader.join();
    }
    size_t acks() {
      std::lock_guard<std::mutex> lock(mu);
      size_t n = 0;
      for (auto& m : got) n += m.has_ack();
      return n;
    }
    uint64_t last_ack() {
      std::lock_guard<std::mutex> lock(mu);
      uint64_t s = 0;
      for (auto& m : got) {
        if (m.has_ack()) s = m.ack().seq();
      }
      return s;
    }
    v1::CollectorMessage at(size_t i) {
      std::lock_guard<std::mutex> lock(mu);
      return got.at(i);
    }
    size_t count() {
      std::lock_guard<std::mutex> lock(mu);
      return got.size();
    }
  };

  std::unique_ptr<Client> Connect(const std::string& name, const std::string& boot,
                                  int64_t probe_clock_ms) {
    auto c = std::make_unique<Client>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    c->stream = stub_->Connect(&c->ctx);
    v1::ProbeMessage m;
    m.mutable_hello()->set_probe_name(name);
    m.mutable_hello()->set_boot_id(boot);
    m.mutable_hello()->set_version("1");
    (*m.mutable_hello()->mutable_labels())["network"] = "n1";
    m.mutable_hello()->set_sent_unix_ms(probe_clock_ms);
    EXPECT_TRUE(c->stream->Write(m));
    Client* raw = c.get();
    c->reader = std::thread([raw] {
      v1::CollectorMessage in;
      while (raw->stream->Read(&in)) {
        std::lock_guard<std::mutex> lock(raw->mu);
        raw->got.push_back(in);
      }
      raw->status = raw->stream->Finish();
      raw->done = true;
    });
    return c;
  }

  static v1::ProbeMessage Batch(uint64_t first_seq, int n, int64_t started_ms) {
    v1::ProbeMessage m;
    for (int i = 0; i < n; ++i) {
      v1::CheckResult* r = m.mutable_results()->add_results();
      r->set_seq(first_seq + i);
      r->set_target("t1");
      r->set_outcome(v1::OUTCOME_OK);
      r->set_started_unix_ms(started_ms + i);
    }
    return m;
  }

  std::atomic<int64_t> now_{kNow};
  ConfigSnapshot snapshot_;
  OrderingStore store_;
  LiveState state_;
  Metrics metrics_{&state_};
  StreamHub hub_;
  IngestDeps deps_;
  std::unique_ptr<ProbeServiceImpl> service_;
  std::string socket_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ProbeService::Stub> stub_;
};

TEST_F(ProbeStreamTest, HelloGetsWelcomeWithTheCollectorsClockThenTheAssignment) {
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  ASSERT_TRUE(c->at(0).has_welcome());
  EXPECT_EQ(c->at(0).welcome().committed_seq(), 0u);
  EXPECT_EQ(c->at(0).welcome().collector_unix_ms(), kNow);
  ASSERT_TRUE(c->at(1).has_assignment());
  ASSERT_EQ(c->at(1).assignment().targets_size(), 1);
  EXPECT_EQ(c->at(1).assignment().targets(0).name(), "t1");
  EXPECT_TRUE(state_.Snapshot().probes["p1"].connected);
  EXPECT_EQ(hub_.size(), 1u);
}

TEST_F(ProbeStreamTest, AckOnlyAfterCommitAndResultsStampedOnTheCollectorsClock) {
  // The probe's clock is 10 minutes behind; the hello takes 5 ms.
  const int64_t skew = -600'000;
  now_ = kNow + 5;
  auto c = Connect("p1", "b1", kNow + skew);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  store_.CommitPending();  // the probe record
  now_ = kNow + 1000;
  // Checks that started 300 ms ago on the probe's clock.
  ASSERT_TRUE(c->stream->Write(Batch(1, 3, kNow + skew + 700)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 1; }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(c->acks(), 0u) << "acknowledged before the commit";
  EXPECT_TRUE(state_.CopyTargetResults("t1").empty()) << "live state ahead of the store";
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->acks() == 1; }));
  EXPECT_EQ(c->last_ack(), 3u);
  auto results = state_.CopyTargetResults("t1");
  ASSERT_EQ(results.count("p1"), 1u);
  const v1::CheckResult& r = results["p1"];
  EXPECT_EQ(r.seq(), 3u);
  EXPECT_EQ(r.received_unix_ms(), kNow + 1000);
  EXPECT_EQ(r.started_unix_ms(), kNow + skew + 702);         // the probe's own
  EXPECT_EQ(r.collector_started_unix_ms(), kNow + 702 + 5);  // corrected (one-way)
  EXPECT_EQ(state_.Snapshot().probes["p1"].last_seen_ms, kNow + 1000);
  EXPECT_TRUE(state_.Snapshot().probes["p1"].clock_measured);
  EXPECT_EQ(state_.Snapshot().probes["p1"].clock_offset_ms, skew - 5);
  EXPECT_EQ(store_.AllResults().size(), 3u);
}

TEST_F(ProbeStreamTest, AdHocResultsAreStoredAndAckedOnceAndNeverEnterTheLiveState) {
  std::mutex mu;
  std::vector<v1::CheckResult> adhoc;
  deps_.adhoc_expects = [](const std::string& probe, const std::string& id,
                           const std::string& target) {
    return probe == "p1" && id == "ok-1" && target == "h1.example";
  };
  deps_.adhoc_result = [&](const std::string& probe, const v1::CheckResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(probe, "p1");
    adhoc.push_back(r);
  };
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  store_.CommitPending();  // the probe record
  // seq 1 and 4 scheduled (t1); 2 answers check ok-1; 3 claims a check
  // nobody asked (dropped like an unassigned result, still acknowledged).
  v1::ProbeMessage m = Batch(1, 4, kNow);
  for (int i : {1, 2}) {
    v1::CheckResult* r = m.mutable_results()->mutable_results(i);
    r->set_target("h1.example");
    r->set_adhoc_id(i == 1 ? "ok-1" : "forged-9");
  }
  for (int round = 0; round < 2; ++round) {  // the second time: a resend (duplicates)
    ASSERT_TRUE(c->stream->Write(m));
    ASSERT_TRUE(WaitUntil([&] { return store_.pending() >= 1; }));
    store_.CommitPending();
    ASSERT_TRUE(WaitUntil([&] { return c->acks() == static_cast<size_t>(round + 1); }));
    EXPECT_EQ(c->last_ack(), 4u);
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(adhoc.size(), 1u);  // exactly once, after its commit
  EXPECT_EQ(adhoc[0].seq(), 2u);
  EXPECT_EQ(adhoc[0].received_unix_ms(), kNow);  // stamped like any
  EXPECT_TRUE(state_.CopyTargetResults("h1.example").empty());
  EXPECT_EQ(state_.CopyTargetResults("t1")["p1"].seq(), 4u);
  size_t stored_adhoc = 0;
  for (const auto& row : store_.AllResults()) stored_adhoc += !row.result.adhoc_id().empty();
  EXPECT_EQ(stored_adhoc, 1u);
  EXPECT_EQ(store_.AllResults().size(), 3u);
}

TEST_F(ProbeStreamTest, AResultIsNeverDatedAfterItsArrival) {
  auto c = Connect("p1", "b1", kNow);  // in sync at hello
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  // Then it claims checks 10 minutes in the future (clock jumped, or lies).
  ASSERT_TRUE(c->stream->Write(Batch(1, 1, kNow + 600'000)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() >= 2; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->acks() == 1; }));
  EXPECT_EQ(state_.CopyTargetResults("t1")["p1"].collector_started_unix_ms(), kNow);
}

TEST_F(ProbeStreamTest, RoundTripEchoMeasuresTheOffsetAndAcksCarryTheClock) {
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  // Probe 2 s ahead; it read the welcome (t1 = kNow) at its kNow + 2010 and
  // sends a heartbeat at its kNow + 2100, read by us at kNow + 110: 20 ms round trip.
  v1::ProbeMessage hb;
  hb.mutable_heartbeat()->set_unix_ms(kNow + 2100);
  hb.mutable_heartbeat()->set_echo_collector_unix_ms(kNow);
  hb.mutable_heartbeat()->set_echo_received_unix_ms(kNow + 2010);
  hb.mutable_heartbeat()->set_spooled(7);
  hb.mutable_heartbeat()->set_dropped(2);
  hb.mutable_heartbeat()->set_in_flight(3);
  now_ = kNow + 110;
  ASSERT_TRUE(c->stream->Write(hb));
  ASSERT_TRUE(WaitUntil([&] { return state_.Snapshot().probes["p1"].clock_rtt_ms == 20; }));
  EXPECT_EQ(state_.Snapshot().probes["p1"].clock_offset_ms, 2000);
  EXPECT_EQ(state_.Snapshot().probes["p1"].heartbeat.spooled(), 7u);
  now_ = kNow + 500;
  ASSERT_TRUE(c->stream->Write(Batch(1, 1, kNow + 2400)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() >= 2; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->acks() == 1; }));
  v1::CollectorMessage ack = c->at(2);
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().collector_unix_ms(), kNow + 500);
  EXPECT_EQ(state_.CopyTargetResults("t1")["p1"].collector_started_unix_ms(), kNow + 400);
}

TEST_F(ProbeStreamTest, ReconnectResendsAreDeduplicated) {
  {
    auto c = Connect("p1", "b1", kNow);
    ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
    ASSERT_TRUE(c->stream->Write(Batch(1, 3, kNow)));
    ASSERT_TRUE(WaitUntil([&] { return store_.pending() >= 2; }));
    store_.CommitPending();
    ASSERT_TRUE(WaitUntil([&] { return c->acks() == 1; }));
  }
  ASSERT_TRUE(WaitUntil([&] { return hub_.size() == 0; }));
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  EXPECT_EQ(c->at(0).welcome().committed_seq(), 3u);
  ASSERT_TRUE(c->stream->Write(Batch(2, 3, kNow)));  // 2, 3 again and 4
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() >= 2; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->acks() == 1; }));
  EXPECT_EQ(c->last_ack(), 4u);
  EXPECT_EQ(store_.AllResults().size(), 4u);
}

TEST_F(ProbeStreamTest, ANewStreamOfTheSameProbeReplacesTheOld) {
  auto a = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return a->count() >= 2; }));
  auto b = Connect("p1", "b2", kNow);
  ASSERT_TRUE(WaitUntil([&] { return a->done.load(); }));
  EXPECT_EQ(a->status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_NE(a->status.error_message().find("replaced by a newer stream"), std::string::npos);
  ASSERT_TRUE(WaitUntil([&] { return b->count() >= 2; }));
  EXPECT_EQ(hub_.size(), 1u);
  EXPECT_EQ(state_.Snapshot().probes["p1"].boot_id, "b2");
  EXPECT_TRUE(state_.Snapshot().probes["p1"].connected);
}

// A replaced stream must not queue results behind the new stream's Welcome
// (after a failed commit the store accepts what is queued after the Welcome's
// CommittedSeq wherever it starts, past a gap). The old stream of boot bN
// keeps reading and submitting (commits run continuously) while a new stream
// of the same boot says hello; only the old one writes results, so any
// submission of the boot after the new stream's CommittedSeq came from the
// replaced stream. Repeated, to hit the window where the old stream's read
// completes while the new one is being welcomed.
TEST_F(ProbeStreamTest, AReplacedStreamSubmitsNothingAfterTheNewWelcome) {
  std::atomic<bool> stop_commits{false};
  std::thread committer([&] {
    while (!stop_commits) {
      store_.CommitPending();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string boot = "b" + std::to_string(round);
    auto a = Connect("p1", boot, kNow);
    ASSERT_TRUE(WaitUntil([&] { return a->count() >= 2; }));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      for (uint64_t seq = 1; seq <= 2000 && !stop; ++seq) {
        if (!a->stream->Write(Batch(seq, 1, kNow))) break;
      }
    });
    ASSERT_TRUE(WaitUntil([&] { return a->acks() >= 3; }));
    auto b = Connect("p1", boot, kNow);
    ASSERT_TRUE(WaitUntil([&] { return b->count() >= 2; }));
    ASSERT_TRUE(WaitUntil([&] { return a->done.load(); }));
    stop = true;
    writer.join();
    EXPECT_EQ(a->status.error_code(), grpc::StatusCode::ABORTED);
    std::this_thread::sleep_for(milliseconds(5));
    EXPECT_EQ(store_.SubmissionsAfterSecondWelcome("p1", boot), 0)
        << "the replaced stream queued results behind the new stream's resume point";
    b.reset();
    a.reset();
    ASSERT_TRUE(WaitUntil([&] { return hub_.size() == 0; }));
  }
  stop_commits = true;
  committer.join();
}

TEST_F(ProbeStreamTest, FlowControlStopsReadingWhileBatchesWaitForCommit) {
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  store_.CommitPending();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c->stream->Write(Batch(1 + i, 1, kNow)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 2; }));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(store_.pending(), 2u) << "read beyond max_outstanding_batches";
  // Exactly the two waiting: committing them lets the stream read the next two,
  // which a plain CommitPending() could commit too before we look.
  EXPECT_EQ(store_.CommitPending(2), 2u);
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 2; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->last_ack() == 4; }));
}

TEST_F(ProbeStreamTest, AFailedCommitClosesTheStreamWithoutAck) {
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  store_.CommitPending();
  store_.FailNextCommits(1, Status::IoError("disk full"));
  ASSERT_TRUE(c->stream->Write(Batch(1, 1, kNow)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 1; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->done.load(); }));
  EXPECT_EQ(c->acks(), 0u);
  EXPECT_EQ(c->status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(c->status.error_message().find("disk full"), std::string::npos);
  EXPECT_TRUE(state_.CopyTargetResults("t1").empty());
}

TEST_F(ProbeStreamTest, ProbesBeyondMaxProbesAreRefusedButKnownOnesReconnect) {
  auto config = std::make_shared<Config>(*snapshot_.config);
  config->max_probes = 2;
  snapshot_ = {config, 2};
  auto a = Connect("p1", "b1", kNow);
  auto b = Connect("p2", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return a->count() >= 2 && b->count() >= 2; }));
  auto c = Connect("p3", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->done.load(); }));
  EXPECT_EQ(c->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(c->status.error_message().find("max_probes (2)"), std::string::npos)
      << c->status.error_message();
  EXPECT_EQ(c->count(), 0u);
  EXPECT_EQ(hub_.size(), 2u);
  EXPECT_EQ(state_.Snapshot().probes.count("p3"), 0u);
  // A connected probe reconnecting replaces its own stream: always accepted.
  auto a2 = Connect("p1", "b2", kNow);
  ASSERT_TRUE(WaitUntil([&] { return a2->count() >= 2; }));
  ASSERT_TRUE(WaitUntil([&] { return a->done.load(); }));
  EXPECT_EQ(a->status.error_code(), grpc::StatusCode::ABORTED);
  // Once one disconnects, a new probe fits.
  b.reset();
  ASSERT_TRUE(WaitUntil([&] { return hub_.size() == 1; }));
  auto d = Connect("p3", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return d->count() >= 2; }));
  EXPECT_EQ(hub_.size(), 2u);
}

TEST_F(ProbeStreamTest, HelloLabelsAreBoundedInCountLengthAndCharset) {
  auto hello_status = [&](const std::map<std::string, std::string>& labels) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub_->Connect(&ctx);
    v1::ProbeMessage m;
    m.mutable_hello()->set_probe_name("p1");
    m.mutable_hello()->set_boot_id("b1");
    m.mutable_hello()->mutable_labels()->insert(labels.begin(), labels.end());
    EXPECT_TRUE(stream->Write(m));
    stream->WritesDone();
    v1::CollectorMessage in;
    while (stream->Read(&in)) {
    }
    return stream->Finish();
  };
  std::map<std::string, std::string> many;
  for (int i = 0; i < 33; ++i) many["k" + std::to_string(i)] = "v";
  grpc::Status st = hello_status(many);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("33 labels, at most 32"), std::string::npos)
      << st.error_message();
  for (const std::string& key :
       {std::string("net-work"), std::string("1st"), std::string("__name__"), std::string("a.b"),
        std::string(65, 'k')}) {
    st = hello_status({{key, "v"}});
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << key;
    EXPECT_NE(st.error_message().find("hello.labels key"), std::string::npos) << st.error_message();
  }
  st = hello_status({{"site", std::string(257, 'v')}});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("257 bytes, at most 256"), std::string::npos)
      << st.error_message();
  EXPECT_EQ(hub_.size(), 0u);
  // At the limits: accepted.
  std::map<std::string, std::string> edge;
  for (int i = 0; i < 31; ++i) edge["k" + std::to_string(i)] = "v";
  edge[std::string("_") + std::string(63, 'K')] = std::string(256, 'v');
  st = hello_status(edge);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(ProbeStreamTest, TheResultRateLimitPausesReadsAndCountsButDropsNothing) {
  auto config = std::make_shared<Config>(*snapshot_.config);
  config->stream_results_per_second = 10;
  config->stream_results_burst = 10;
  snapshot_ = {config, 2};
  deps_.max_outstanding_batches = 100;
  auto throttled = [&] {
    double n = 0;
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "parallax_ingest_throttled_total") continue;
      for (const auto& m : family.metric) n += m.counter.value;
    }
    return n;
  };
  auto c = Connect("p1", "b1", kNow);
  ASSERT_TRUE(WaitUntil([&] { return c->count() >= 2; }));
  store_.CommitPending();
  // The burst (10 results) passes; the simulated clock stands still, so the
  // next batch puts the stream 20 results (2 s) in debt: it is stored and
  // acknowledged, but the batch after it waits for the pause.
  ASSERT_TRUE(c->stream->Write(Batch(1, 10, kNow)));
  ASSERT_TRUE(c->stream->Write(Batch(11, 20, kNow)));
  ASSERT_TRUE(c->stream->Write(Batch(31, 1, kNow)));
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 2; }));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->last_ack() == 30; }));
  EXPECT_EQ(throttled(), 1);
  EXPECT_EQ(store_.pending(), 0u) << "read while throttled";
  // After the pause the third batch is read, stored and acknowledged.
  ASSERT_TRUE(WaitUntil([&] { return store_.pending() == 1; }, milliseconds(6000)));
  store_.CommitPending();
  ASSERT_TRUE(WaitUntil([&] { return c->last_ack() == 31; }));
  EXPECT_EQ(store_.AllResults().size(), 31u);
}

TEST_F(ProbeStreamTest, FirstMessageMustBeAHello) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub_->Connect(&ctx);
  ASSERT_TRUE(stream->Write(Batch(1, 1, kNow)));
  v1::CollectorMessage in;
  EXPECT_FALSE(stream->Read(&in));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("must be a hello"), std::string::npos);
  EXPECT_EQ(store_.pending(), 0u);
}

}  // namespace
}  // namespace parallax::collector
