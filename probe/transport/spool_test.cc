#include "probe/transport/spool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;

v1::CheckResult Result(const std::string& target, size_t detail_bytes = 0) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_outcome(v1::OUTCOME_OK);
  if (detail_bytes > 0) r.set_detail(std::string(detail_bytes, 'x'));
  return r;
}

std::vector<uint64_t> Seqs(const v1::ResultBatch& b) {
  std::vector<uint64_t> out;
  for (const auto& r : b.results()) out.push_back(r.seq());
  return out;
}

SpoolOptions Memory(uint64_t max_count = 0, uint64_t max_bytes = 1 << 20) {
  SpoolOptions o;
  o.max_count = max_count;
  o.max_bytes = max_bytes;
  o.boot_id = "b1";
  return o;
}

BatchLimits Now(size_t count, size_t bytes = 1 << 20) {
  BatchLimits l;
  l.max_count = count;
  l.max_bytes = bytes;
  l.linger = milliseconds(0);
  l.idle = milliseconds(0);
  return l;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "spool_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

TEST(SpoolTest, AssignsIncreasingSeqsAndSendsInOrder) {
  Spool spool(Memory(100));
  EXPECT_EQ(spool.Append(Result("a")), 1u);
  EXPECT_EQ(spool.Append(Result("b")), 2u);
  EXPECT_EQ(spool.Append(Result("c")), 3u);
  v1::ResultBatch batch;
  spool.WaitBatch(Now(2), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(batch.results(0).target(), "a");
  spool.WaitBatch(Now(10), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3}));
  spool.WaitBatch(Now(10), &batch);
  EXPECT_TRUE(Seqs(batch).empty());
}

TEST(SpoolTest, AckTrimsAndRewindResendsOnlyUnacked) {
  Spool spool(Memory(100));
  for (int i = 0; i < 5; ++i) spool.Append(Result("t"));
  v1::ResultBatch batch;
  spool.WaitBatch(Now(10), &batch);
  ASSERT_EQ(batch.results_size(), 5);
  spool.Ack(3);
  EXPECT_EQ(spool.stats().size, 2u);
  spool.Rewind();
  spool.WaitBatch(Now(10), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(spool.stats().resent, 2u);
  spool.Ack(5);
  EXPECT_EQ(spool.stats().size, 0u);
  EXPECT_EQ(spool.stats().bytes, 0u);
  spool.Rewind();
  EXPECT_EQ(spool.Append(Result("t")), 6u);
  spool.WaitBatch(Now(10), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{6}));
}

TEST(SpoolTest, FullSpoolDropsOldestAndCountsThem) {
  Spool spool(Memory(3));
  for (int i = 0; i < 5; ++i) spool.Append(Result("t"));
  EXPECT_EQ(spool.stats().dropped, 2u);
  v1::ResultBatch batch;
  spool.WaitBatch(Now(10), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(batch.dropped_through(), 2u);
}

TEST(SpoolTest, BoundedInBytesDropsOldest) {
  Spool spool(Memory(0, 10000));
  for (int i = 0; i < 20; ++i) spool.Append(Result("t", 1000));
  SpoolStats s = spool.stats();
  EXPECT_LE(s.bytes, 10000u);
  EXPECT_GE(s.size, 8u);
  EXPECT_EQ(s.dropped + s.size, 20u);
  v1::ResultBatch batch;
  spool.WaitBatch(Now(100), &batch);
  EXPECT_EQ(batch.results(batch.results_size() - 1).seq(), 20u);
  EXPECT_EQ(batch.dropped_through(), s.dropped);
}

TEST(SpoolTest, BatchesBoundedInBytesAlwaysCarryOne) {
  Spool spool(Memory());
  for (int i = 0; i < 50; ++i) spool.Append(Result("t", 1000));
  v1::ResultBatch batch;
  spool.WaitBatch(Now(1000, 10000), &batch);
  EXPECT_GT(batch.results_size(), 1);
  EXPECT_LE(batch.ByteSizeLong(), 10000u);
  size_t got = batch.results_size();
  while (got < 50) {
    spool.WaitBatch(Now(1000, 100), &batch);  // below one result: still one
    ASSERT_EQ(batch.results_size(), 1);
    ++got;
  }
}

TEST(SpoolTest, OversizedResultIsTruncatedNotDropped) {
  SpoolOptions o = Memory();
  o.max_result_bytes = 4096;
  Spool spool(o);
  v1::CheckResult r = Result("t");
  for (int i = 0; i < 100; ++i) r.add_pre_banner(std::string(200, 'a' + i % 26));
  spool.Append(std::move(r));
  v1::ResultBatch batch;
  spool.WaitBatch(Now(10), &batch);
  ASSERT_EQ(batch.results_size(), 1);
  const v1::CheckResult& got = batch.results(0);
  EXPECT_LE(got.ByteSizeLong(), 4096u);
  EXPECT_GT(got.truncated_bytes(), 0u);
  EXPECT_NE(got.pre_banner(got.pre_banner_size() - 1).find("truncated"), std::string::npos);
  EXPECT_EQ(spool.stats().truncated, 1u);
}

TEST(SpoolTest, AckAheadOfCursorSkipsAckedResults) {
  Spool spool(Memory(10));
  for (int i = 0; i < 4; ++i) spool.Append(Result("t"));
  spool.Ack(2);  // e.g. Welcome.committed_seq after a reconnect
  spool.Rewind();
  v1::ResultBatch batch;
  spool.WaitBatch(Now(10), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3, 4}));
}

TEST(SpoolTest, AckBeyondTheLastSeqMovesTheNextSeqPastIt) {
  Spool spool(Memory());
  spool.Append(Result("t"));
  spool.Ack(40);  // the collector holds more of this boot than we know
  EXPECT_EQ(spool.Append(Result("t")), 41u);
}

TEST(SpoolTest, WaitBatchWakesOnAppendAndOnWake) {
  Spool spool(Memory(10));
  v1::ResultBatch batch;
  BatchLimits l = Now(10);
  l.idle = milliseconds(10000);
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.Append(Result("late"));
  });
  auto start = std::chrono::steady_clock::now();
  spool.WaitBatch(l, &batch);
  t.join();
  EXPECT_EQ(batch.results_size(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  std::thread w([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.Wake();
  });
  start = std::chrono::steady_clock::now();
  spool.WaitBatch(l, &batch);
  w.join();
  EXPECT_EQ(batch.results_size(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SpoolTest, LingerCollectsUntilTheBatchIsFull) {
  Spool spool(Memory());
  BatchLimits l = Now(5);
  l.linger = milliseconds(10000);
  l.idle = milliseconds(10000);
  std::thread t([&] {
    for (int i = 0; i < 5; ++i) {
      spool.Append(Result("t"));
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  v1::ResultBatch batch;
  auto start = std::chrono::steady_clock::now();
  spool.WaitBatch(l, &batch);  // returns when 5 are there, not on the first
  t.join();
  EXPECT_EQ(batch.results_size(), 5);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // A lone result goes out when the linger expires.
  l.linger = milliseconds(100);
  spool.Append(Result("t"));
  start = std::chrono::steady_clock::now();
  spool.WaitBatch(l, &batch);
  EXPECT_EQ(batch.results_size(), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(90));
}

TEST(SpoolFileTest, RestartKeepsBootIdSeqAndUnackedResults) {
  TempDir dir;
  SpoolOptions o = Memory();
  o.path = dir.File("spool.db");
  o.probe_name = "p1";
  {
    Spool spool(o);
    ASSERT_TRUE(spool.Open().ok());
    EXPECT_FALSE(spool.resumed());
    EXPECT_EQ(spool.boot_id(), "b1");
    for (int i = 0; i < 10; ++i) spool.Append(Result("t" + std::to_string(i)));
    // Only results on disk are handed out.
    v1::ResultBatch batch;
    BatchLimits l = Now(100);
    l.idle = milliseconds(5000);
    spool.WaitBatch(l, &batch);
    ASSERT_GT(batch.results_size(), 0);
    EXPECT_LE(batch.results(batch.results_size() - 1).seq(), spool.stats().persisted_through);
    spool.Ack(4);
    spool.Close();
  }
  o.boot_id = "b2";
  Spool spool(o);
  ASSERT_TRUE(spool.Open().ok());
  EXPECT_TRUE(spool.resumed());
  EXPECT_EQ(spool.boot_id(), "b1");
  EXPECT_EQ(spool.stats().size, 6u);
  EXPECT_EQ(spool.Append(Result("new")), 11u);
  v1::ResultBatch batch;
  BatchLimits l = Now(100);
  l.idle = milliseconds(5000);
  spool.WaitBatch(l, &batch);
  ASSERT_GE(batch.results_size(), 6);
  EXPECT_EQ(batch.results(0).seq(), 5u);
  EXPECT_EQ(batch.results(0).target(), "t4");
  // A second probe on the same file is refused.
  Spool other(o);
  Status s = other.Open();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("another parallax-probe"), std::string::npos) << s.message();
}

// The writer is woken only when idle; a wake-up that finds nothing to do
// (an Ack of what is gone, as the Welcome sends) must leave it idle, so the
// next Append still wakes it and the result reaches the file and the sender.
TEST(SpoolFileTest, AppendAfterAnAckWithNothingToDoStillReachesTheSender) {
  TempDir dir;
  SpoolOptions o = Memory();
  o.path = dir.File("spool.db");
  o.probe_name = "p1";
  Spool spool(o);
  ASSERT_TRUE(spool.Open().ok());
  BatchLimits l = Now(100);
  l.idle = milliseconds(5000);
  for (int round = 1; round <= 3; ++round) {
    spool.Ack(0);                                   // nothing to delete
    std::this_thread::sleep_for(milliseconds(30));  // the writer back to waiting
    spool.Append(Result("t" + std::to_string(round)));
    v1::ResultBatch batch;
    spool.WaitBatch(l, &batch);
    ASSERT_EQ(batch.results_size(), 1) << "round " << round;
    EXPECT_EQ(batch.results(0).seq(), static_cast<uint64_t>(round));
  }
}

TEST(SpoolFileTest, EmptySpoolOrAnotherProbeStartsANewBoot) {
  TempDir dir;
  SpoolOptions o = Memory();
  o.path = dir.File("spool.db");
  o.probe_name = "p1";
  {
    Spool spool(o);
    ASSERT_TRUE(spool.Open().ok());
    spool.Append(Result("t"));
    spool.Append(Result("t"));
  }
  o.probe_name = "p2";
  o.boot_id = "b2";
  {
    Spool spool(o);
    ASSERT_TRUE(spool.Open().ok());
    EXPECT_FALSE(spool.resumed());
    EXPECT_EQ(spool.boot_id(), "b2");
    EXPECT_EQ(spool.Append(Result("t")), 1u);
    spool.Ack(1);
  }
  o.boot_id = "b3";
  Spool spool(o);
  ASSERT_TRUE(spool.Open().ok());
  EXPECT_FALSE(spool.resumed());  // everything was acknowledged
  EXPECT_EQ(spool.boot_id(), "b3");
}

// A file that cannot grow (RLIMIT_FSIZE, the way a full disk fails writes):
// the spool says so and goes on in memory, delivering everything.
TEST(SpoolFileTest, FailingFileFallsBackToMemory) {
  TempDir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    SpoolOptions o = Memory();
    o.max_bytes = 64 << 20;
    o.path = dir.File("spool.db");
    o.probe_name = "p1";
    o.disk_grace = milliseconds(200);
    Spool spool(o);
    if (!spool.Open().ok()) _exit(10);
    struct rlimit rl = {256 << 10, 256 << 10};
    setrlimit(RLIMIT_FSIZE, &rl);
    for (int i = 0; i < 2000; ++i) spool.Append(Result("t", 1000));
    BatchLimits l = Now(5000, 16 << 20);
    l.idle = milliseconds(200);
    size_t got = 0;
    for (int i = 0; i < 100 && got < 2000; ++i) {
      v1::ResultBatch batch;
      spool.WaitBatch(l, &batch);
      got += batch.results_size();
    }
    SpoolStats s = spool.stats();
    _exit(got == 2000 && !s.durable && s.disk_errors > 0 ? 0 : 20);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace parallax::probe
