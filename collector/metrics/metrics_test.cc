#include "collector/metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace parallax::collector {
namespace {

std::string Render(const Metrics& m) {
  return prometheus::TextSerializer().Serialize(m.registry()->Collect());
}

v1::CheckResult Result(const std::string& target, int64_t ms, v1::Outcome o, uint32_t connect_us) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_started_unix_ms(ms);
  r.set_outcome(o);
  r.set_connect_us(connect_us);
  return r;
}

TEST(MetricsTest, CountsOutcomesAndFollowsNewestResult) {
  Metrics m;
  m.ObserveResults("p1", std::vector<v1::CheckResult>{Result("t1", 2000, v1::OUTCOME_OK, 1500),
                                                      Result("t1", 1000, v1::OUTCOME_REFUSED, 0),
                                                      Result("t1", 3000, v1::OUTCOME_OK, 2500)});
  std::string text = Render(m);
  EXPECT_NE(text.find(R"(parallax_check_total{outcome="ok",probe="p1",target="t1"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(parallax_check_total{outcome="refused",probe="p1",target="t1"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(parallax_check_up{probe="p1",target="t1"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_check_connect_seconds{probe="p1",target="t1"} 0.0025)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(parallax_check_last_timestamp_seconds{probe="p1",target="t1"} 3)"),
            std::string::npos);
}

TEST(MetricsTest, RetainTargetsDropsSeriesOfRemovedTargets) {
  Metrics m;
  m.ObserveResults("p1",
                   std::vector<v1::CheckResult>{Result("keep", 1000, v1::OUTCOME_OK, 1),
                                                Result("gone", 1000, v1::OUTCOME_TIMEOUT, 0)});
  m.RetainTargets({"keep"});
  std::string text = Render(m);
  EXPECT_EQ(text.find("target=\"gone\""), std::string::npos) << text;
  EXPECT_NE(text.find("target=\"keep\""), std::string::npos);
  // Observing a dropped target again recreates its series.
  m.ObserveResults("p1", std::vector<v1::CheckResult>{Result("gone", 2000, v1::OUTCOME_OK, 1)});
  EXPECT_NE(Render(m).find(R"(parallax_check_up{probe="p1",target="gone"} 1)"), std::string::npos);
}

TEST(MetricsTest, IngestAndProbeSeries) {
  Metrics m;
  m.CountIngest(5, 2);
  m.CountRejected("invalid", 1);
  m.SetProbeConnected("p1", true);
  std::string text = Render(m);
  EXPECT_NE(text.find(R"(parallax_ingest_results_total{result="stored"} 5)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_ingest_results_total{result="duplicate"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_connected{probe="p1"} 1)"), std::string::npos);
}

}  // namespace
}  // namespace parallax::collector

namespace parallax::collector {
namespace {

TEST(MetricsTest, TargetCauseKeepsOneCurrentCauseAndZeroesFormerOnes) {
  Metrics m;
  m.SetTargetCause("t1", v1::CAUSE_OK);
  m.SetTargetCause("t1", v1::CAUSE_FIREWALL_BLOCK);
  m.CountIncident(v1::CAUSE_FIREWALL_BLOCK);
  m.SetProbeHealthy("p1", false);
  m.SetNetworkBlocked("isp-b", true);
  m.SetProbeInfo("p1", {{"network", "isp-a"}, {"site", "fra1"}});
  m.SetProbeInfo("p1", {{"network", "isp-b"}, {"site", "fra1"}});
  std::string text = Render(m);
  EXPECT_NE(text.find(R"(parallax_target_cause{cause="ok",target="t1"} 0)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(parallax_target_cause{cause="firewall_block",target="t1"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(parallax_target_up{target="t1"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_incidents_total{cause="firewall_block"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_healthy{probe="p1"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_network_ssh_blocked{network="isp-b"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_info{network="isp-b",probe="p1",site="fra1"} 1)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(R"(network="isp-a",probe="p1")"), std::string::npos);
  m.RetainTargets({});
  EXPECT_EQ(Render(m).find("target=\"t1\""), std::string::npos);
}

TEST(MetricsTest, ProbeFactsAreExportedAndCleared) {
  Metrics m;
  m.SetProbeFacts("p1", true, false);
  m.SetProbeFacts("p2", false, true);
  std::string text = Render(m);
  EXPECT_NE(text.find(R"(parallax_probe_ssh_egress_blocked{probe="p1"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(parallax_probe_cannot_run_checks{probe="p1"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_ssh_egress_blocked{probe="p2"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(parallax_probe_cannot_run_checks{probe="p2"} 1)"), std::string::npos);
  m.SetProbeFacts("p1", false, false);
  EXPECT_NE(Render(m).find(R"(parallax_probe_ssh_egress_blocked{probe="p1"} 0)"),
            std::string::npos);
}

// Probe labels stored before hellos were validated may carry ESC/BEL or C1:
// /metrics shows them escaped (issue 13).
TEST(MetricsTest, ProbeInfoLabelValuesAreEscaped) {
  Metrics m;
  m.SetProbeInfo("p1", {{"network", "\x1b]0;PWNED\a"},
                        {"site",
                         "x\xc2\x9b"
                         "2J"}});
  std::string text = Render(m);
  EXPECT_NE(text.find(R"(network="\\x1b]0;PWNED\\x07")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(site="x\\u009b2J")"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos);
}

TEST(MetricsTest, HeartbeatsAndClockOffsetPerProbe) {
  Metrics m;
  v1::Heartbeat hb;
  hb.set_spooled(120);
  hb.set_in_flight(4);
  hb.set_dropped(5);
  m.ObserveHeartbeat("p1", "boot-a", hb);
  hb.set_dropped(7);
  m.ObserveHeartbeat("p1", "boot-a", hb);  // +2
  hb.set_dropped(1);
  m.ObserveHeartbeat("p1", "boot-b", hb);  // a restarted probe counts from 0: +1
  m.ObserveHeartbeat("p1", "boot-b", hb);  // nothing new
  m.SetProbeClockOffset("p1", -600.5);
  m.ObserveCommit(0.003);
  std::string text = Render(m);
  EXPECT_NE(text.find("parallax_probe_dropped_results_total{probe=\"p1\"} 8"), std::string::npos)
      << text;
  EXPECT_NE(text.find("parallax_probe_spooled_results{probe=\"p1\"} 120"), std::string::npos);
  EXPECT_NE(text.find("parallax_probe_checks_in_flight{probe=\"p1\"} 4"), std::string::npos);
  EXPECT_NE(text.find("parallax_probe_clock_offset_seconds{probe=\"p1\"} -600.5"),
            std::string::npos);
  EXPECT_NE(text.find("parallax_store_commit_seconds_count 1"), std::string::npos);
}

}  // namespace
}  // namespace parallax::collector
