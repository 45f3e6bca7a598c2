#include "collector/diagnosis/hysteresis.h"

#include <gtest/gtest.h>

namespace parallax::collector::diagnosis {
namespace {

Verdict V(const std::string& target, v1::Cause cause) {
  Verdict v;
  v.target = target;
  v.cause = cause;
  v.summary = "s";
  return v;
}

TEST(HysteresisTest, ChangesOnlyAfterRequiredConsecutiveEvaluations) {
  Hysteresis h(2);
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_OK)}, 1000).empty());
  auto t = h.Apply({V("t", v1::CAUSE_OK)}, 2000);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, v1::CAUSE_UNKNOWN);
  EXPECT_EQ(t[0].to, v1::CAUSE_OK);
  EXPECT_EQ(t[0].verdict->cause, v1::CAUSE_OK);

  // A single blip does not change anything.
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_FIREWALL_BLOCK)}, 3000).empty());
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_OK)}, 4000).empty());
  EXPECT_EQ(h.stable().at("t").verdict->cause, v1::CAUSE_OK);
  EXPECT_EQ(h.stable().at("t").since_ms, 2000);

  // Two in a row do.
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_HOST_OFFLINE)}, 5000).empty());
  t = h.Apply({V("t", v1::CAUSE_HOST_OFFLINE)}, 6000);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, v1::CAUSE_OK);
  EXPECT_EQ(t[0].to, v1::CAUSE_HOST_OFFLINE);
  EXPECT_EQ(h.stable().at("t").since_ms, 6000);
}

TEST(HysteresisTest, ProvisionalVerdictsNeitherConfirmNorCancelAChange) {
  Hysteresis h(2);
  h.Apply({V("t", v1::CAUSE_OK)}, 1000);
  h.Apply({V("t", v1::CAUSE_OK)}, 2000);
  Verdict young = V("t", v1::CAUSE_SOURCE_BLOCK);
  young.provisional = true;
  // However many: a provisional source_block never becomes the cause.
  for (int64_t at = 3000; at < 8000; at += 1000) EXPECT_TRUE(h.Apply({young}, at).empty());
  EXPECT_EQ(h.stable().at("t").verdict->cause, v1::CAUSE_OK);
  EXPECT_EQ(h.stable().at("t").pending, v1::CAUSE_UNSPECIFIED);
  // Nor through ApplySome's "the same verdict again" for untouched targets.
  EXPECT_TRUE(h.ApplySome({young}, 8000).empty());
  EXPECT_TRUE(h.ApplySome(std::vector<Verdict>{}, 9000).empty());
  EXPECT_TRUE(h.ApplySome(std::vector<Verdict>{}, 10000).empty());
  EXPECT_EQ(h.stable().at("t").verdict->cause, v1::CAUSE_OK);
  // A pending change is not cancelled by one either: the next real verdict counts.
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_SOURCE_BLOCK)}, 11000).empty());
  young.cause = v1::CAUSE_PARTIAL;
  EXPECT_TRUE(h.Apply({young}, 12000).empty());
  auto t = h.Apply({V("t", v1::CAUSE_SOURCE_BLOCK)}, 13000);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].to, v1::CAUSE_SOURCE_BLOCK);
  // The stable cause named provisionally is fresher evidence for it.
  Verdict same = V("t", v1::CAUSE_SOURCE_BLOCK);
  same.provisional = true;
  same.summary = "newer";
  EXPECT_TRUE(h.Apply({same}, 14000).empty());
  EXPECT_EQ(h.stable().at("t").verdict->summary, "newer");
}

TEST(HysteresisTest, AlternatingCandidatesNeverConfirm) {
  Hysteresis h(2);
  h.Apply({V("t", v1::CAUSE_OK)}, 0);
  h.Apply({V("t", v1::CAUSE_OK)}, 1);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(
        h.Apply({V("t", i % 2 ? v1::CAUSE_SSH_REFUSED : v1::CAUSE_HOST_OFFLINE)}, 10 + i).empty());
  }
  EXPECT_EQ(h.stable().at("t").verdict->cause, v1::CAUSE_OK);
}

TEST(HysteresisTest, RequiredOneIsImmediateAndMissingTargetsAreForgotten) {
  Hysteresis h(1);
  auto t = h.Apply({V("a", v1::CAUSE_OK), V("b", v1::CAUSE_NOT_SSH)}, 0);
  EXPECT_EQ(t.size(), 2u);
  h.Apply({V("a", v1::CAUSE_OK)}, 1);
  EXPECT_EQ(h.stable().count("b"), 0u);
}

TEST(HysteresisTest, SeedKeepsACauseAcrossRestarts) {
  Hysteresis h(2);
  h.Seed("t", v1::CAUSE_FIREWALL_BLOCK, 500);
  EXPECT_TRUE(h.Apply({V("t", v1::CAUSE_FIREWALL_BLOCK)}, 1000).empty());
  EXPECT_EQ(h.stable().at("t").since_ms, 500);
}

// ApplySome with only the re-diagnosed targets behaves like Apply with every
// target's (unchanged) verdict: a pending cause keeps counting.
TEST(HysteresisTest, ApplySomeCountsPendingCausesOfUntouchedTargets) {
  Hysteresis full(3), some(3);
  std::vector<Verdict> all = {V("a", v1::CAUSE_OK), V("b", v1::CAUSE_OK)};
  for (int64_t now : {0, 1, 2}) {
    full.Apply(all, now);
    some.ApplySome(now == 0 ? all : std::vector<Verdict>{}, now);
  }
  // b fails once; afterwards nothing of it changes (not re-diagnosed).
  all[1] = V("b", v1::CAUSE_SSH_REFUSED);
  EXPECT_TRUE(full.Apply(all, 3).empty());
  EXPECT_TRUE(some.ApplySome({all[1]}, 3).empty());
  EXPECT_TRUE(full.Apply(all, 4).empty());
  EXPECT_TRUE(some.ApplySome(std::vector<Verdict>{}, 4).empty());
  auto tf = full.Apply(all, 5);
  auto ts = some.ApplySome(std::vector<Verdict>{}, 5);
  ASSERT_EQ(tf.size(), 1u);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].target, "b");
  EXPECT_EQ(ts[0].to, v1::CAUSE_SSH_REFUSED);
  EXPECT_EQ(ts[0].verdict->summary, "s");
  EXPECT_EQ(some.stable().at("b").since_ms, full.stable().at("b").since_ms);
  EXPECT_EQ(some.stable().at("a").verdict->cause, v1::CAUSE_OK);
  // Nothing pending any more: no further transitions, and Forget drops.
  EXPECT_TRUE(some.ApplySome(std::vector<Verdict>{}, 6).empty());
  some.Forget("a");
  EXPECT_EQ(some.stable().count("a"), 0u);
}

}  // namespace
}  // namespace parallax::collector::diagnosis
