#include "probe/transport/spool.h"

#include <gtest/gtest.h>

#include <thread>

namespace parallax::probe {
namespace {

using std::chrono::milliseconds;

v1::CheckResult Result(const std::string& target) {
  v1::CheckResult r;
  r.set_target(target);
  return r;
}

std::vector<uint64_t> Seqs(const v1::ResultBatch& b) {
  std::vector<uint64_t> out;
  for (const auto& r : b.results()) out.push_back(r.seq());
  return out;
}

TEST(SpoolTest, AssignsIncreasingSeqsAndSendsInOrder) {
  Spool spool(100);
  EXPECT_EQ(spool.Append(Result("a")), 1u);
  EXPECT_EQ(spool.Append(Result("b")), 2u);
  EXPECT_EQ(spool.Append(Result("c")), 3u);
  v1::ResultBatch batch;
  spool.WaitBatch(2, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(batch.results(0).target(), "a");
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3}));
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_TRUE(Seqs(batch).empty());
}

TEST(SpoolTest, AckTrimsAndRewindResendsOnlyUnacked) {
  Spool spool(100);
  for (int i = 0; i < 5; ++i) spool.Append(Result("t"));
  v1::ResultBatch batch;
  spool.WaitBatch(10, milliseconds(0), &batch);
  ASSERT_EQ(batch.results_size(), 5);
  spool.Ack(3);
  EXPECT_EQ(spool.stats().size, 2u);
  spool.Rewind();
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(spool.stats().resent, 2u);
  spool.Ack(5);
  EXPECT_EQ(spool.stats().size, 0u);
  spool.Rewind();
  EXPECT_EQ(spool.Append(Result("t")), 6u);
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{6}));
}

TEST(SpoolTest, FullSpoolDropsOldestAndCountsThem) {
  Spool spool(3);
  for (int i = 0; i < 5; ++i) spool.Append(Result("t"));
  EXPECT_EQ(spool.stats().dropped, 2u);
  v1::ResultBatch batch;
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3, 4, 5}));
}

TEST(SpoolTest, AckAheadOfCursorSkipsAckedResults) {
  Spool spool(10);
  for (int i = 0; i < 4; ++i) spool.Append(Result("t"));
  spool.Ack(2);  // e.g. Welcome.committed_seq after a reconnect
  spool.Rewind();
  v1::ResultBatch batch;
  spool.WaitBatch(10, milliseconds(0), &batch);
  EXPECT_EQ(Seqs(batch), (std::vector<uint64_t>{3, 4}));
}

TEST(SpoolTest, WaitBatchWakesOnAppendAndOnWake) {
  Spool spool(10);
  v1::ResultBatch batch;
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.Append(Result("late"));
  });
  auto start = std::chrono::steady_clock::now();
  spool.WaitBatch(10, milliseconds(10000), &batch);
  t.join();
  EXPECT_EQ(batch.results_size(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  std::thread w([&] {
    std::this_thread::sleep_for(milliseconds(50));
    spool.Wake();
  });
  start = std::chrono::steady_clock::now();
  spool.WaitBatch(10, milliseconds(10000), &batch);
  w.join();
  EXPECT_EQ(batch.results_size(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace parallax::probe
