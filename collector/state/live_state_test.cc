#include "collector/state/live_state.h"

#include <gtest/gtest.h>

namespace parallax::collector {
namespace {

v1::CheckResult Result(const std::string& target, int64_t ms, v1::Outcome o) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_started_unix_ms(ms);
  r.set_outcome(o);
  return r;
}

TEST(LiveStateTest, KeepsNewestResultPerProbeAndTarget) {
  LiveState s;
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 2000, v1::OUTCOME_OK),
                                                     Result("t1", 1000, v1::OUTCOME_REFUSED),
                                                     Result("t2", 1000, v1::OUTCOME_TIMEOUT)});
  s.UpdateResults("p2", std::vector<v1::CheckResult>{Result("t1", 1500, v1::OUTCOME_REFUSED)});
  StateSnapshot snap = s.Snapshot();
  EXPECT_EQ(snap.results["t1"]["p1"].outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(snap.results["t1"]["p2"].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(snap.results["t2"]["p1"].outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(s.pair_count(), 3u);
  EXPECT_EQ(s.CopyTargetResults("t1").size(), 2u);
  EXPECT_EQ(s.CopyTargetResults("t1").at("p2").outcome(), v1::OUTCOME_REFUSED);
  EXPECT_TRUE(s.CopyTargetResults("none").empty());
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 3000, v1::OUTCOME_TIMEOUT)});
  EXPECT_EQ(s.Snapshot().results["t1"]["p1"].outcome(), v1::OUTCOME_TIMEOUT);
}

TEST(LiveStateTest, TracksProbeConnectionsAndRetainsConfiguredTargets) {
  LiveState s;
  v1::Hello hello;
  hello.set_probe_name("p1");
  (*hello.mutable_labels())["network"] = "isp-a";
  s.ProbeConnected(hello, "ipv4:127.0.0.1:5555", 100);
  EXPECT_TRUE(s.Snapshot().probes["p1"].connected);
  EXPECT_EQ(s.Snapshot().probes["p1"].labels.at("network"), "isp-a");
  s.ProbeDisconnected("p1", 200);
  EXPECT_FALSE(s.Snapshot().probes["p1"].connected);
  EXPECT_EQ(s.Snapshot().probes["p1"].last_seen_ms, 200);
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 1, v1::OUTCOME_OK),
                                                     Result("gone", 1, v1::OUTCOME_OK)});
  s.RetainTargets({"t1"});
  EXPECT_EQ(s.Snapshot().results.count("gone"), 0u);
  EXPECT_EQ(s.Snapshot().results.count("t1"), 1u);
}

// The leader's polling of other collectors' results (collector/server/
// leadership.h): a strictly newer result is kept and marks its target
// changed; an older or equal one changes nothing and is not counted.
TEST(LiveStateTest, PolledResultsReplaceOnlyOlderOnes) {
  LiveState s;
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 2000, v1::OUTCOME_OK)});
  s.TakeChangedTargets();
  EXPECT_FALSE(s.ApplyPolledResult("p1", Result("t1", 2000, v1::OUTCOME_REFUSED)));
  EXPECT_FALSE(s.ApplyPolledResult("p1", Result("t1", 1000, v1::OUTCOME_REFUSED)));
  EXPECT_EQ(s.Snapshot().results["t1"]["p1"].outcome(), v1::OUTCOME_OK);
  EXPECT_TRUE(s.TakeChangedTargets().targets.empty());
  EXPECT_TRUE(s.ApplyPolledResult("p1", Result("t1", 3000, v1::OUTCOME_TIMEOUT)));
  EXPECT_TRUE(s.ApplyPolledResult("p2", Result("t1", 1000, v1::OUTCOME_OK)));
  EXPECT_EQ(s.Snapshot().results["t1"]["p1"].outcome(), v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(s.Snapshot().results["t1"]["p2"].outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(s.TakeChangedTargets().targets, std::vector<std::string>{"t1"});
  // Not checks stored here: not counted.
  s.VisitTargetResults("t1", [](const LiveState::PairsOfTarget& pairs) {
    for (const auto& [probe, pair] : pairs) {
      EXPECT_EQ(pair.checks[v1::OUTCOME_TIMEOUT], 0u) << probe;
    }
  });
}

// Probes connected to another collector (probe_sessions, read by the
// leader) show connected; a local connection wins; a stale row disconnects.
TEST(LiveStateTest, ProbesConnectedElsewhere) {
  LiveState s;
  s.ProbeConnectedElsewhere("p1", "c2:7420", {{"network", "a"}}, "v1", "b1", 100, 500);
  ProbeState p = s.Snapshot().probes["p1"];
  EXPECT_TRUE(p.connected);
  EXPECT_EQ(p.via_collector, "c2:7420");
  EXPECT_EQ(p.labels.at("network"), "a");
  EXPECT_EQ(p.connected_since_ms, 100);
  EXPECT_EQ(p.last_seen_ms, 500);
  // A late end of its old stream here does not disconnect it.
  s.ProbeDisconnected("p1", 600);
  EXPECT_TRUE(s.Snapshot().probes["p1"].connected);
  s.ProbeGoneElsewhere("p1", 700);
  EXPECT_FALSE(s.Snapshot().probes["p1"].connected);
  EXPECT_EQ(s.Snapshot().probes["p1"].last_seen_ms, 700);
  // Connected here: another collector's stale row leaves it alone.
  v1::Hello hello;
  hello.set_probe_name("p1");
  s.ProbeConnected(hello, "ipv4:127.0.0.1:5555", 800);
  s.ProbeConnectedElsewhere("p1", "c2:7420", {}, "v1", "b1", 100, 900);
  EXPECT_EQ(s.Snapshot().probes["p1"].via_collector, "");
  s.ProbeGoneElsewhere("p1", 1000);
  EXPECT_TRUE(s.Snapshot().probes["p1"].connected);
}

TEST(LiveStateTest, OrdersAndDatesByTheCollectorsClock) {
  LiveState s;
  v1::Hello hello;
  hello.set_probe_name("p1");
  s.ProbeConnected(hello, "peer", 1000);
  // The probe's clock runs 10 minutes ahead: its own timestamps say the first
  // result is the newest; the collector's say otherwise.
  v1::CheckResult a = Result("t1", 600'000 + 5000, v1::OUTCOME_OK);
  a.set_collector_started_unix_ms(900);
  a.set_received_unix_ms(1100);
  v1::CheckResult b = Result("t1", 1000, v1::OUTCOME_REFUSED);  // probe clock reset backwards
  b.set_collector_started_unix_ms(1500);
  b.set_received_unix_ms(1600);
  s.UpdateResults("p1", std::vector<v1::CheckResult>{a});
  s.UpdateResults("p1", std::vector<v1::CheckResult>{b});
  EXPECT_EQ(s.Snapshot().results["t1"]["p1"].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(s.Snapshot().probes["p1"].last_seen_ms, 1600);  // arrival, not the probe's 605 s
  EXPECT_FALSE(s.Snapshot().probes["p1"].clock_measured);
  s.ProbeClock("p1", 600'000, 4);
  EXPECT_TRUE(s.Snapshot().probes["p1"].clock_measured);
  EXPECT_EQ(s.Snapshot().probes["p1"].clock_offset_ms, 600'000);
  EXPECT_EQ(ResultTimeMs(b), 1500);
  EXPECT_EQ(ResultTimeMs(Result("t", 7, v1::OUTCOME_OK)), 7);  // not stamped: its own time
}

// issue 13: a probe disconnected longer than the TTL disappears with its
// results from every reader, on the injected (simulated) clock; a connected
// probe never expires however old; a probe that comes back in time stays.
TEST(LiveStateTest, DisconnectedProbesExpireAfterTheTtl) {
  int64_t now = 10'000;
  std::vector<std::string> expired;
  LiveState s;
  s.SetProbeTtl(
      2000, [&] { return now; }, [&](const std::string& p) { expired.push_back(p); });
  for (const char* name : {"gone", "back", "up"}) {
    v1::Hello hello;
    hello.set_probe_name(name);
    s.ProbeConnected(hello, "peer", now);
    std::vector<v1::CheckResult> batch;
    for (int t = 0; t < 40; ++t) {  // spread over every shard
      v1::CheckResult r = Result("t" + std::to_string(t), now, v1::OUTCOME_OK);
      r.set_received_unix_ms(now);
      batch.push_back(r);
    }
    s.UpdateResults(name, batch);
  }
  ProbeState old;  // known from storage, last seen long ago
  old.last_seen_ms = 1;
  s.AddKnownProbe("stored", old);
  EXPECT_EQ(s.probe_count(), 3u);  // "stored" was due at once
  EXPECT_EQ(expired, std::vector<std::string>{"stored"});
  s.ProbeDisconnected("gone", now);
  s.ProbeDisconnected("back", now);
  now += 1999;
  EXPECT_EQ(s.probe_count(), 4u - 1);
  EXPECT_EQ(s.pair_count(), 120u);
  v1::Hello hello;
  hello.set_probe_name("back");
  s.ProbeConnected(hello, "peer", now);
  now += 1;  // "gone": exactly the TTL
  EXPECT_EQ(s.CopyProbes().count("gone"), 0u);
  EXPECT_EQ(expired, (std::vector<std::string>{"stored", "gone"}));
  EXPECT_EQ(s.pair_count(), 80u);
  EXPECT_EQ(s.CopyTargetResults("t7").count("gone"), 0u);
  EXPECT_EQ(s.CopyTargetResults("t7").count("back"), 1u);
  StateSnapshot snap = s.Snapshot();
  EXPECT_EQ(snap.probes.count("gone"), 0u);
  for (const auto& [target, probes] : snap.results) EXPECT_EQ(probes.count("gone"), 0u);
  now += 365LL * 24 * 3600 * 1000;  // connected probes never expire
  EXPECT_EQ(s.probe_count(), 2u);
  // A shorter TTL on reload applies at once; 0 turns expiry off.
  s.ProbeDisconnected("up", now);
  s.SetProbeTtl(0, {});
  now += 10'000;
  EXPECT_EQ(s.probe_count(), 2u);
  s.SetProbeTtl(5000, {});
  EXPECT_EQ(s.probe_count(), 1u);
  EXPECT_EQ(s.ExpireProbes(), std::vector<std::string>{});
}

TEST(LiveStateTest, CountsChecksPerOutcomeButNotSeededResults) {
  LiveState s;
  s.SeedResult("p1", Result("t1", 500, v1::OUTCOME_TIMEOUT));
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 1000, v1::OUTCOME_OK),
                                                     Result("t1", 400, v1::OUTCOME_REFUSED),
                                                     Result("t1", 2000, v1::OUTCOME_OK)});
  int visited = 0;
  s.VisitTargets([&](const std::string& target, const LiveState::PairsOfTarget& pairs) {
    ++visited;
    EXPECT_EQ(target, "t1");
    const PairState& p = pairs.at("p1");
    EXPECT_EQ(p.checks[v1::OUTCOME_OK], 2u);
    EXPECT_EQ(p.checks[v1::OUTCOME_REFUSED], 1u);
    EXPECT_EQ(p.checks[v1::OUTCOME_TIMEOUT], 0u);  // seeded, not counted
    EXPECT_EQ(p.newest.started_unix_ms(), 2000);
  });
  EXPECT_EQ(visited, 1);
}

}  // namespace
}  // namespace parallax::collector

namespace parallax::collector {
namespace {

// The pair history the diagnosis reads (probes_banned, explain's address change).
TEST(PairHistoryTest, KeepsLastOkFailingSinceSourceAndAddressChange) {
  PairState pair;
  auto result = [](v1::Outcome o, int64_t at, const std::string& address) {
    v1::CheckResult r;
    r.set_outcome(o);
    r.set_collector_started_unix_ms(at);
    r.set_address(address);
    if (o == v1::OUTCOME_OK) r.set_source_address("198.51.100.7");
    return r;
  };
  for (const v1::CheckResult& r : {result(v1::OUTCOME_OK, 1000, "192.0.2.10:22"),
                                   result(v1::OUTCOME_OK, 2000, "192.0.2.10:22"),
                                   result(v1::OUTCOME_REFUSED, 3000, "192.0.2.10:22"),
                                   result(v1::OUTCOME_PROBE_ERROR, 3500, "192.0.2.10:22"),
                                   result(v1::OUTCOME_REFUSED, 4000, "192.0.2.9:22")}) {
    NotePairHistory(pair, r);
    pair.newest = r;
  }
  EXPECT_EQ(pair.last_ok_ms, 2000);
  EXPECT_EQ(pair.failing_since_ms, 3000);
  EXPECT_EQ(pair.source_address, "198.51.100.7");
  EXPECT_EQ(pair.previous_address, "192.0.2.10");
  EXPECT_EQ(pair.address_changed_ms, 4000);
  NotePairHistory(pair, result(v1::OUTCOME_OK, 5000, "192.0.2.9:22"));
  EXPECT_EQ(pair.failing_since_ms, 0);
  EXPECT_EQ(pair.last_ok_ms, 5000);
}

}  // namespace
}  // namespace parallax::collector
