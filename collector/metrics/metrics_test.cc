// Metrics rendered from the LiveState and a fake DiagnosisSource, as a
// scrape sees them (Metrics::Render, collector/metrics/exposition.h), and
// that text held equal to Collect() through prometheus-cpp's TextSerializer.
#include "collector/metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace parallax::collector {
namespace {

std::string Render(const Metrics& m) {
  std::string out;
  m.Render(&out);
  return out;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

v1::CheckResult Result(const std::string& target, int64_t ms, v1::Outcome o, uint32_t connect_us) {
  v1::CheckResult r;
  r.set_target(target);
  r.set_started_unix_ms(ms);
  r.set_outcome(o);
  r.set_connect_us(connect_us);
  return r;
}

v1::Hello Hello(const std::string& probe, const std::string& network, const std::string& site) {
  v1::Hello h;
  h.set_probe_name(probe);
  h.set_boot_id("boot-a");
  (*h.mutable_labels())["network"] = network;
  (*h.mutable_labels())["site"] = site;
  return h;
}

class FakeDiagnosis : public DiagnosisSource {
 public:
  DiagnosisFacts Facts() const override { return facts; }
  DiagnosisFacts facts;
};

TEST(MetricsTest, CountsOutcomesAndFollowsNewestResult) {
  LiveState s;
  Metrics m(&s);
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("t1", 2000, v1::OUTCOME_OK, 1500),
                                                     Result("t1", 1000, v1::OUTCOME_REFUSED, 0),
                                                     Result("t1", 3000, v1::OUTCOME_OK, 2500)});
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_check_total{outcome="ok",probe="p1",target="t1"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_check_total{outcome="refused",probe="p1",target="t1"} 1)"));
  EXPECT_FALSE(Has(text, R"(outcome="timeout")"));  // only outcomes seen
  EXPECT_TRUE(Has(text, R"(parallax_check_up{probe="p1",target="t1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_check_connect_seconds{probe="p1",target="t1"} 0.0025)"));
  EXPECT_TRUE(Has(text, R"(parallax_check_last_timestamp_seconds{probe="p1",target="t1"} 3)"));
}

// Seeded at start-up from the store: gauges from the newest stored result,
// no check counted.
TEST(MetricsTest, SeededResultsShowGaugesButCountNoCheck) {
  LiveState s;
  Metrics m(&s);
  s.SeedResult("p1", Result("t1", 5000, v1::OUTCOME_TIMEOUT, 0));
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_check_up{probe="p1",target="t1"} 0)")) << text;
  EXPECT_FALSE(Has(text, "parallax_check_total{"));
}

TEST(MetricsTest, SeriesOfRemovedTargetsDisappearWithTheirState) {
  LiveState s;
  Metrics m(&s);
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("keep", 1000, v1::OUTCOME_OK, 1),
                                                     Result("gone", 1000, v1::OUTCOME_TIMEOUT, 0)});
  s.RetainTargets({"keep"});
  std::string text = Render(m);
  EXPECT_FALSE(Has(text, "target=\"gone\"")) << text;
  EXPECT_TRUE(Has(text, "target=\"keep\""));
  s.UpdateResults("p1", std::vector<v1::CheckResult>{Result("gone", 2000, v1::OUTCOME_OK, 1)});
  EXPECT_TRUE(Has(Render(m), R"(parallax_check_up{probe="p1",target="gone"} 1)"));
}

TEST(MetricsTest, IngestCountersAndProbeSeries) {
  LiveState s;
  Metrics m(&s);
  m.CountIngest(5, 2);
  m.CountRejected("invalid", 1);
  s.ProbeConnected(Hello("p1", "isp-a", "fra1"), "peer", 100);
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_ingest_results_total{result="stored"} 5)")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_ingest_results_total{result="duplicate"} 2)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_connected{probe="p1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_info{network="isp-a",probe="p1",site="fra1"} 1)"));
  EXPECT_FALSE(Has(text, "parallax_probe_clock_offset_seconds{"));  // not measured yet
  EXPECT_FALSE(Has(text, "parallax_probe_spooled_results{"));       // no heartbeat yet
  EXPECT_FALSE(Has(text, "parallax_ingest_throttled_total{"));
  s.ProbeThrottled("p1");
  s.ProbeThrottled("p1");
  // New labels at a reconnection replace the old info series.
  s.ProbeConnected(Hello("p1", "isp-b", "fra1"), "peer", 200);
  s.ProbeDisconnected("p1", 300);
  text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_probe_connected{probe="p1"} 0)")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_ingest_throttled_total{probe="p1"} 2)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_info{network="isp-b",probe="p1",site="fra1"} 1)"));
  EXPECT_FALSE(Has(text, R"(network="isp-a")"));
}

TEST(MetricsTest, DiagnosisIsReadFromTheSourceAndFormerCausesStayAtZero) {
  LiveState s;
  Metrics m(&s);
  FakeDiagnosis d;
  m.SetDiagnosisSource(&d);
  s.ProbeConnected(Hello("p1", "isp-a", "fra1"), "peer", 100);
  d.facts.target_causes = {{"t1", v1::CAUSE_OK}};
  d.facts.probes = {{"p1", false, true, false}, {"expired", true, false, false}};
  d.facts.blocked_networks = {"isp-b"};
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_target_cause{cause="ok",target="t1"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_target_up{target="t1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_healthy{probe="p1"} 0)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_ssh_egress_blocked{probe="p1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_cannot_run_checks{probe="p1"} 0)"));
  EXPECT_FALSE(Has(text, R"(probe="expired")"));  // not in the live state any more
  EXPECT_TRUE(Has(text, R"(parallax_network_ssh_blocked{network="isp-b"} 1)"));

  d.facts.target_causes = {{"t1", v1::CAUSE_FIREWALL_BLOCK}};
  d.facts.blocked_networks = {};
  text = Render(m);
  EXPECT_TRUE(Has(text, R"(parallax_target_cause{cause="ok",target="t1"} 0)")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_target_cause{cause="firewall_block",target="t1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_target_up{target="t1"} 0)"));
  EXPECT_TRUE(Has(text, R"(parallax_network_ssh_blocked{network="isp-b"} 0)"));

  d.facts.target_causes = {};  // the target left the config
  EXPECT_FALSE(Has(Render(m), R"(target="t1")"));
  m.CountIncident(v1::CAUSE_FIREWALL_BLOCK);
  EXPECT_TRUE(Has(Render(m), R"(parallax_incidents_total{cause="firewall_block"} 1)"));
  m.SetDiagnosisSource(nullptr);
  EXPECT_FALSE(Has(Render(m), "parallax_probe_healthy{"));
}

// Probe labels stored before hellos were validated may carry ESC/BEL or C1:
// /metrics shows them escaped (issue 13).
TEST(MetricsTest, LabelValuesAreEscaped) {
  LiveState s;
  Metrics m(&s);
  ProbeState known;
  known.labels = {{"network", "\x1b]0;PWNED\a"},
                  {"site",
                   "x\xc2\x9b"
                   "2J"}};
  s.AddKnownProbe("p\x1b[1", known);
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, R"(network="\\x1b]0;PWNED\\x07")")) << text;
  EXPECT_TRUE(Has(text, R"(site="x\\u009b2J")")) << text;
  EXPECT_TRUE(Has(text, R"(probe="p\\x1b[1")")) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos);
}

// A scrape's text, written straight from the state for the per-pair series,
// is byte for byte prometheus-cpp's serialization of Collect(): labels that
// need escapes, several outcomes per pair, several targets and probes, the
// diagnosis families and the registry's counters.
TEST(MetricsTest, RenderIsTheTextOfCollect) {
  LiveState s;
  Metrics m(&s);
  FakeDiagnosis d;
  m.SetDiagnosisSource(&d);
  s.ProbeConnected(Hello("p1", "isp-a", "x\"y\\z"), "ipv4:10.0.0.1:1", 1000);
  s.ProbeConnected(Hello("p2", "isp-b", "s2"), "ipv4:10.0.0.2:1", 1000);
  s.ProbeClock("p1", 250, 3);
  s.ProbeHeartbeat("p2", v1::Heartbeat(), 1500);
  s.AddKnownProbe("p\x1b[1", ProbeState());
  for (int i = 0; i < 30; ++i) {
    const std::string target =
        i % 7 == 0 ? "t\"" + std::to_string(i) + "\\" : "t" + std::to_string(i);
    std::vector<v1::CheckResult> batch = {
        Result(target, 2000 + i, i % 3 ? v1::OUTCOME_OK : v1::OUTCOME_TIMEOUT, 1234 * i)};
    if (i % 5 == 1) {  // a verified host key: parallax_pair_hostkey_info
      batch[0].mutable_host_key()->set_fingerprint("SHA256:k" + std::to_string(i) + "\"q");
      batch[0].mutable_host_key()->set_type("ssh-ed25519");
    }
    s.UpdateResults("p1", batch);
    batch[0].set_outcome(v1::OUTCOME_REFUSED);
    s.UpdateResults("p1", batch);
    if (i % 2) s.UpdateResults("p2", batch);
    d.facts.target_causes.emplace_back(target, i % 4 ? v1::CAUSE_OK : v1::CAUSE_SOURCE_BLOCK);
  }
  d.facts.probes.push_back({"p1", true, false, false});
  d.facts.probes.push_back({"p2", false, true, false});
  d.facts.blocked_networks = {"isp-b"};
  m.CountIngest(5, 1);
  const std::string ours = Render(m);
  ASSERT_TRUE(Has(ours, R"(parallax_check_total{outcome="refused",probe="p1",target="t\"0\\"} 1)"))
      << ours;
  ASSERT_TRUE(Has(ours, R"(parallax_pair_hostkey_info{fingerprint="SHA256:k1\"q",probe="p1")"))
      << ours;
  EXPECT_EQ(ours, prometheus::TextSerializer().Serialize(m.Collect()));
}

TEST(MetricsTest, HeartbeatsAndClockOffsetPerProbe) {
  LiveState s;
  Metrics m(&s);
  s.ProbeConnected(Hello("p1", "n", "s"), "peer", 100);
  v1::Heartbeat hb;
  hb.set_spooled(120);
  hb.set_in_flight(4);
  hb.set_dropped(5);
  s.ProbeHeartbeat("p1", hb, 200);
  hb.set_dropped(7);
  s.ProbeHeartbeat("p1", hb, 300);  // +2
  v1::Hello again = Hello("p1", "n", "s");
  again.set_boot_id("boot-b");
  s.ProbeConnected(again, "peer", 400);
  hb.set_dropped(1);
  s.ProbeHeartbeat("p1", hb, 500);  // a restarted probe counts from 0: +1
  hb.set_late_ms(2500);             // an overloaded probe
  hb.set_checks_paused(true);
  hb.set_check_pauses(3);
  s.ProbeHeartbeat("p1", hb, 600);  // nothing new dropped
  s.ProbeClock("p1", -600'500, 3);
  m.ObserveCommit(0.003);
  std::string text = Render(m);
  EXPECT_TRUE(Has(text, "parallax_probe_dropped_results_total{probe=\"p1\"} 8")) << text;
  EXPECT_TRUE(Has(text, "parallax_probe_spooled_results{probe=\"p1\"} 120"));
  EXPECT_TRUE(Has(text, "parallax_probe_checks_in_flight{probe=\"p1\"} 4"));
  EXPECT_TRUE(Has(text, "parallax_probe_check_late_seconds{probe=\"p1\"} 2.5")) << text;
  EXPECT_TRUE(Has(text, "parallax_probe_checks_paused{probe=\"p1\"} 1"));
  EXPECT_TRUE(Has(text, "parallax_probe_check_pauses_total{probe=\"p1\"} 3"));
  EXPECT_TRUE(Has(text, "parallax_probe_clock_offset_seconds{probe=\"p1\"} -600.5"));
  EXPECT_TRUE(Has(text, "parallax_store_commit_seconds_count 1"));
}

// issue 13: a probe disconnected longer than probe_ttl leaves /metrics with
// every series of it, on the collector's (here simulated) clock.
TEST(MetricsTest, ExpiredProbeLosesEverySeries) {
  int64_t now = 1'000'000;
  LiveState s;
  Metrics m(&s);
  FakeDiagnosis d;
  m.SetDiagnosisSource(&d);
  s.SetProbeTtl(7 * 24 * 3600 * 1000LL, [&] { return now; });
  for (const char* p : {"gone", "stays"}) {
    s.ProbeConnected(Hello(p, "n", "s"), "peer", now);
    s.UpdateResults(p, std::vector<v1::CheckResult>{Result("t1", now, v1::OUTCOME_OK, 1)});
    s.ProbeHeartbeat(p, v1::Heartbeat(), now);
    s.ProbeThrottled(p);
    s.ProbeClock(p, 5, 1);
  }
  d.facts.probes = {{"gone", false, false, false}, {"stays", true, false, false}};
  s.ProbeDisconnected("gone", now);
  now += 7 * 24 * 3600 * 1000LL - 1;
  EXPECT_TRUE(Has(Render(m), R"(probe="gone")"));  // one millisecond left
  now += 1;
  std::string text = Render(m);
  EXPECT_FALSE(Has(text, R"(probe="gone")")) << text;
  EXPECT_TRUE(Has(text, R"(parallax_check_up{probe="stays",target="t1"} 1)"));
  EXPECT_TRUE(Has(text, R"(parallax_probe_healthy{probe="stays"} 1)"));
}

}  // namespace
}  // namespace parallax::collector
