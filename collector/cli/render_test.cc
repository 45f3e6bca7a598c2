#include "collector/cli/render.h"

#include <gtest/gtest.h>

#include "collector/cli/probes_view.h"

namespace parallax::cli {
namespace {

v1::StatusResponse Sample() {
  v1::StatusResponse resp;
  v1::TargetStatus* t = resp.add_targets();
  t->set_name("web1");
  t->set_host("192.0.2.1");
  t->set_port(22);
  v1::ProbeStatus* p = t->add_probes();
  p->set_probe("a1");
  (*p->mutable_labels())["network"] = "isp-a";
  p->set_outcome(v1::OUTCOME_OK);
  p->set_connect_ms(1.23456);
  p->set_banner("SSH-2.0-OpenSSH_9.2p1");
  p->set_age_s(3.04);
  v1::ProbeStatus* q = t->add_probes();
  q->set_probe("b1");
  q->set_outcome(v1::OUTCOME_TIMEOUT);
  resp.add_probes()->set_name("a1");
  resp.mutable_probes(0)->set_connected(true);
  resp.add_probes()->set_name("b1");
  return resp;
}

TEST(RenderTest, StatusJsonKeepsTheContractNames) {
  nlohmann::json j = StatusJson(Sample());
  const auto& t = j.at("targets").at(0);
  EXPECT_EQ(t.at("name"), "web1");
  EXPECT_EQ(t.at("host"), "192.0.2.1");
  EXPECT_EQ(t.at("port"), 22);
  const auto& p = t.at("probes").at(0);
  EXPECT_EQ(p.at("probe"), "a1");
  EXPECT_EQ(p.at("labels").at("network"), "isp-a");
  EXPECT_EQ(p.at("outcome"), "ok");
  EXPECT_DOUBLE_EQ(p.at("connect_ms").get<double>(), 1.235);
  EXPECT_EQ(p.at("banner"), "SSH-2.0-OpenSSH_9.2p1");
  EXPECT_DOUBLE_EQ(p.at("age_s").get<double>(), 3.0);
  EXPECT_EQ(t.at("probes").at(1).at("outcome"), "timeout");
}

TEST(RenderTest, StatusTableHasTargetsAsRowsAndProbesAsColumns) {
  std::string table = StatusTable(Sample(), false);
  EXPECT_NE(table.find("TARGET"), std::string::npos);
  EXPECT_NE(table.find("a1"), std::string::npos);
  EXPECT_NE(table.find("web1"), std::string::npos);
  EXPECT_NE(table.find("192.0.2.1:22"), std::string::npos);
  EXPECT_NE(table.find("ok 1.2ms"), std::string::npos) << table;
  EXPECT_NE(table.find("timeout"), std::string::npos);
  EXPECT_NE(table.find("probes not connected: b1"), std::string::npos);
  EXPECT_EQ(table.find("\033["), std::string::npos);
  EXPECT_NE(StatusTable(Sample(), true).find("\033[32m"), std::string::npos);
}

// ssh_moved is a warning (SSH answers, on another port): yellow, not red,
// in the status table's cause column and the explain headline.
TEST(RenderTest, SshMovedIsYellowNotRed) {
  v1::StatusResponse resp = Sample();
  resp.mutable_targets(0)->set_cause(v1::CAUSE_SSH_MOVED);
  std::string table = StatusTable(resp, true);
  EXPECT_NE(table.find("\033[33mssh_moved"), std::string::npos) << table;
  resp.mutable_targets(0)->set_cause(v1::CAUSE_SSH_REFUSED);
  EXPECT_NE(StatusTable(resp, true).find("\033[31mssh_refused"), std::string::npos);
  v1::Verdict v;
  v.set_target("web1");
  v.set_cause(v1::CAUSE_SSH_MOVED);
  v.set_summary("sshd answers on 2222, not on 22");
  std::string text = ExplainText(v, 0, true);
  EXPECT_NE(text.find("\033[33m"), std::string::npos) << text;
  EXPECT_EQ(text.find("\033[31m"), std::string::npos) << text;
  EXPECT_NE(ExplainText(v, 0, false).find("SSH MOVED"), std::string::npos);
}

// Issue 10 item 7: explain carries the probe's pre-banner lines and its
// ICMP/path evidence (escaped); the text names the hop where a failing path
// went silent.
TEST(RenderTest, ExplainShowsPreBannerIcmpAndWherePathWentSilent) {
  v1::Verdict v;
  v.set_target("web1");
  v.set_host("192.0.2.1");
  v.set_port(22);
  v.set_cause(v1::CAUSE_HOST_OFFLINE);
  v.set_confidence(0.9);
  v.set_summary("Nothing answers.");
  v1::EvidenceItem* e = v.add_evidence();
  e->set_probe("a1");
  e->set_network("isp-a");
  e->set_outcome(v1::OUTCOME_TIMEOUT);
  e->set_role("agrees");
  e->add_pre_banner("Exceeded MaxStartups\x1b[2J");
  e->mutable_ssh_icmp_error()->set_sender("198.51.100.1");
  e->mutable_ssh_icmp_error()->set_type(3);
  e->mutable_ssh_icmp_error()->set_description("host unreachable");
  v1::TcpPath* path = e->mutable_path();
  path->set_last_answering_ttl(2);
  path->set_ended("silent after hop 2");
  for (uint32_t ttl = 1; ttl <= 4; ++ttl) {
    v1::TcpPathHop* h = path->add_hops();
    h->set_ttl(ttl);
    if (ttl <= 2) h->set_sender("198.51.100." + std::to_string(ttl));
  }
  v1::EvidenceItem* ok = v.add_evidence();
  ok->set_probe("b1");
  ok->set_outcome(v1::OUTCOME_OK);
  *ok->mutable_path() = *path;  // an ok row never gets a silence line

  nlohmann::json j = VerdictJson(v);
  const auto& row = j.at("evidence").at(0);
  // The JSON document is ASCII: the server's ESC reaches scripts as \u001b.
  ASSERT_EQ(row.at("pre_banner").size(), 1u) << row.dump();
  EXPECT_NE(j.dump().find(R"(Exceeded MaxStartups\u001b[2J)"), std::string::npos) << j.dump();
  EXPECT_EQ(j.dump().find('\x1b'), std::string::npos);
  EXPECT_EQ(row.at("ssh_icmp_error").at("sender"), "198.51.100.1");
  EXPECT_EQ(row.at("ssh_icmp_error").at("type"), 3);
  EXPECT_EQ(row.at("path").at("last_answering_ttl"), 2);
  EXPECT_EQ(row.at("path").at("hops").size(), 4u);
  EXPECT_TRUE(j.at("evidence").at(1).at("ssh_icmp_error").is_null());

  std::string text = ExplainText(v, 0, false);
  EXPECT_NE(text.find("a1: path went silent after hop 2 (198.51.100.2); ended: silent after hop 2"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("b1: path"), std::string::npos) << text;
}

TEST(RenderTest, HistoryShowsWhatTheServerSaid) {
  v1::HistoryResponse resp;
  resp.set_target("web1");
  v1::HistoryEntry* e = resp.add_entries();
  e->set_unix_ms(1700000000123);
  e->set_probe("a1");
  e->set_outcome(v1::OUTCOME_CLOSED);
  e->add_pre_banner("Too many connections");
  std::string table = HistoryTable(resp, false);
  EXPECT_NE(table.find("2023-11-14 22:13:20.123Z"), std::string::npos) << table;
  EXPECT_NE(table.find("closed"), std::string::npos);
  EXPECT_NE(table.find("Too many connections"), std::string::npos);
  nlohmann::json j = HistoryJson(resp);
  EXPECT_EQ(j.at("entries").at(0).at("pre_banner").at(0), "Too many connections");
}

TEST(RenderTest, HistoryShowsRunsAfterTheChanges) {
  v1::HistoryResponse resp;
  resp.set_target("web1");
  v1::HistoryEntry* e = resp.add_entries();
  e->set_unix_ms(1700000000123);
  e->set_probe("a1");
  e->set_outcome(v1::OUTCOME_OK);
  v1::HistoryRun* r = resp.add_runs();
  r->set_probe("a1\x1b[2J");
  r->set_outcome(v1::OUTCOME_OK);
  r->set_first_unix_ms(1700000000123);
  r->set_last_unix_ms(1700003600123);
  r->set_count(361);
  r->set_connect_min_ms(0.3);
  r->set_connect_mean_ms(0.42);
  r->set_connect_max_ms(1.9);
  std::string table = HistoryTable(resp, false);
  EXPECT_NE(table.find("RUN FROM"), std::string::npos) << table;
  EXPECT_NE(table.find("2023-11-14 23:13:20.123Z"), std::string::npos) << table;
  EXPECT_NE(table.find("361  0.3/0.4/1.9ms"), std::string::npos) << table;
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  nlohmann::json j = HistoryJson(resp);
  EXPECT_EQ(j.at("runs").at(0).at("count"), 361);
  EXPECT_EQ(j.at("runs").at(0).at("outcome"), "ok");
  EXPECT_DOUBLE_EQ(j.at("runs").at(0).at("connect_mean_ms").get<double>(), 0.42);
}

// Untrusted text from servers and probes: a C1 CSI banner, an OSC title
// label, a bidi override and a raw C1 byte render inert in every view.
TEST(RenderTest, EveryViewEscapesControlAndBidiCharacters) {
  const std::string banner =
      "SSH-2.0-x\xc2\x9b"
      "2J";
  const std::string label = "\x1b]0;PWNED\a";
  auto clean = [](const std::string& text) {
    for (unsigned char c : text) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
    }
    return text.find("\xc2\x9b") == std::string::npos &&
           text.find("\xe2\x80\xae") == std::string::npos && text.find('\x9b') == std::string::npos;
  };
  v1::StatusResponse st = Sample();
  st.mutable_targets(0)->mutable_probes(0)->set_banner(banner);
  (*st.mutable_targets(0)->mutable_probes(0)->mutable_labels())["network"] = label;
  st.mutable_targets(0)->set_summary("\u202eevil");
  st.mutable_probes(0)->set_name("a1\x1b[2J");
  std::string table = StatusTable(st, false);
  EXPECT_TRUE(clean(table)) << table;
  EXPECT_NE(table.find("a1\\x1b[2J"), std::string::npos) << table;
  std::string json = DumpJson(StatusJson(st));
  EXPECT_TRUE(clean(json)) << json;
  EXPECT_NE(json.find("\\u009b2J"), std::string::npos) << json;
  EXPECT_NE(json.find("\\u001b]0;PWNED\\u0007"), std::string::npos) << json;
  EXPECT_EQ(nlohmann::json::parse(json)["targets"][0]["probes"][0]["banner"], banner);

  v1::HistoryResponse h;
  h.set_target("web1");
  v1::HistoryEntry* e = h.add_entries();
  e->set_probe("a1");
  e->set_outcome(v1::OUTCOME_OK);
  e->set_banner(banner);
  e->add_pre_banner("220 smtp \x9b ready\r");
  std::string hist = HistoryTable(h, false);
  EXPECT_TRUE(clean(hist)) << hist;
  EXPECT_NE(hist.find("SSH-2.0-x\\u009b2J"), std::string::npos) << hist;
  EXPECT_NE(hist.find("\\x9b ready\\r"), std::string::npos) << hist;
  std::string hjson = DumpJson(HistoryJson(h));
  EXPECT_TRUE(clean(hjson)) << hjson;
  EXPECT_NE(hjson.find("\\\\x9b"), std::string::npos) << hjson;  // invalid byte as text

  v1::Verdict v;
  v.set_target("web1");
  v.set_summary("down " + banner);
  v1::EvidenceItem* ev = v.add_evidence();
  ev->set_probe("a1");
  ev->set_network(label);
  ev->set_detail(banner);
  v.add_remediation("\u2067rm -rf\u2069");
  std::string explain = ExplainText(v, 0, false);
  EXPECT_TRUE(clean(explain)) << explain;
  EXPECT_NE(explain.find("\\x1b]0;PWNED\\x07"), std::string::npos) << explain;
  EXPECT_NE(explain.find("\\u2067rm -rf\\u2069"), std::string::npos) << explain;
  EXPECT_TRUE(clean(DumpJson(VerdictJson(v))));

  v1::IncidentsResponse inc;
  v1::Incident* i = inc.add_incidents();
  i->set_target("web1");
  i->set_summary(label);
  EXPECT_TRUE(clean(IncidentsTable(inc, 0)));
  EXPECT_TRUE(clean(DumpJson(IncidentsJson(inc, 0))));
  v1::ExplainResponse er;
  v1::ProbeHealth* ph = er.add_probes();
  ph->set_probe("a1");
  ph->set_reason(label);
  EXPECT_TRUE(clean(ProbeHealthText(er)));
}

}  // namespace
}  // namespace parallax::cli

namespace parallax::cli {
namespace {

TEST(RenderClockTest, OffsetsBeyondTwoSecondsAreNamedInStatusAndExplain) {
  EXPECT_EQ(ClockOffsetText("p1", 1.9), "");
  EXPECT_EQ(ClockOffsetText("p1", -600.04), "probe p1's clock is 600.0 s behind the collector's");
  EXPECT_EQ(ClockOffsetText("p2", 2.5), "probe p2's clock is 2.5 s ahead of the collector's");

  v1::StatusResponse s;
  v1::ProbeInfo* p = s.add_probes();
  p->set_name("p1");
  p->set_connected(true);
  p->set_clock_measured(true);
  p->set_clock_offset_s(600);
  v1::ProbeInfo* q = s.add_probes();
  q->set_name("p2");
  q->set_connected(true);
  q->set_clock_offset_s(900);  // not measured: not shown
  EXPECT_NE(StatusTable(s, false).find("probe p1's clock is 600.0 s ahead of the collector's"),
            std::string::npos);
  EXPECT_EQ(StatusTable(s, false).find("p2's clock"), std::string::npos);
  nlohmann::json j = StatusJson(s);
  EXPECT_EQ(j["probes"][0]["clock_offset_s"], 600.0);
  EXPECT_TRUE(j["probes"][1]["clock_offset_s"].is_null());

  v1::Verdict v;
  v.set_target("t1");
  v1::EvidenceItem* e = v.add_evidence();
  e->set_probe("p1");
  e->set_clock_measured(true);
  e->set_clock_offset_s(-600);
  EXPECT_NE(ExplainText(v, 0, false).find("probe p1's clock is 600.0 s behind"), std::string::npos);
  EXPECT_EQ(VerdictJson(v)["evidence"][0]["clock_offset_s"], -600.0);
}

// explain for a name resolved differently: the address x vantage matrix,
// the address change, and IPv6 broken from one network while IPv4 works.
TEST(RenderDnsTest, ExplainShowsAddressesPerVantagePoint) {
  v1::Verdict v;
  v.set_target("web1");
  v.set_host("web1.example");
  v.set_port(22);
  v.set_cause(v1::CAUSE_DNS_MISMATCH);
  v.set_summary("isp-a resolves web1.example to 192.0.2.9, the others to 192.0.2.10");
  auto add = [&v](const std::string& probe, const std::string& network, const std::string& a,
                  v1::Outcome o) {
    v1::EvidenceItem* e = v.add_evidence();
    e->set_probe(probe);
    e->set_network(network);
    e->set_outcome(o);
    e->set_address(a + ":22");
    e->add_dns_a(a);
    e->add_dns_aaaa("2001:db8::10");
    return e;
  };
  v1::EvidenceItem* a1 = add("a1", "isp-a", "192.0.2.9", v1::OUTCOME_TIMEOUT);
  a1->set_previous_address("192.0.2.10");
  a1->set_address_changed_unix_ms(1'700'000'000'000);
  v1::EvidenceItem* b1 = add("b1", "isp-b", "192.0.2.10", v1::OUTCOME_OK);
  v1::AddressOutcome* six = b1->add_other_addresses();
  six->set_address("[2001:db8::10]:22");
  six->set_outcome(v1::OUTCOME_NETWORK_UNREACHABLE);
  std::string text = ExplainText(v, 1'700'000'060'000, false);
  EXPECT_NE(text.find("Addresses (what each vantage point resolved"), std::string::npos) << text;
  EXPECT_NE(text.find("192.0.2.9     timeout   -\n"), std::string::npos) << text;
  EXPECT_NE(text.find("192.0.2.10    -         ok"), std::string::npos) << text;
  EXPECT_NE(text.find("2001:db8::10  resolved  network_unreachable"), std::string::npos) << text;
  EXPECT_NE(text.find("b1 (isp-b): IPv6 fails while IPv4 works"), std::string::npos) << text;
  EXPECT_NE(text.find("a1: address changed from 192.0.2.10 to 192.0.2.9"), std::string::npos)
      << text;
  nlohmann::json j = VerdictJson(v);
  EXPECT_EQ(j["evidence"][0]["dns_a"][0], "192.0.2.9");
  EXPECT_EQ(j["evidence"][1]["other_addresses"][0]["outcome"], "network_unreachable");
  EXPECT_EQ(j["cause"], "dns_mismatch");
}

TEST(RenderProbesTest, ProbesShowAddressesAndIgnoreIpExemptsThem) {
  v1::StatusResponse resp;
  v1::ProbeInfo* a = resp.add_probes();
  a->set_name("a1");
  a->set_connected(true);
  a->set_peer("ipv4:198.51.100.7:40000");
  a->add_source_addresses("198.51.100.7");
  a->set_healthy(true);
  v1::ProbeInfo* b = resp.add_probes();
  b->set_name("b1");
  b->add_source_addresses("203.0.113.5");
  b->add_source_addresses("2001:db8::5");
  b->add_source_addresses("1.2.3.4; rm -rf /");  // not an address: never printed as one
  b->set_healthy(false);
  b->set_health_reason("not connected to the collector");
  v1::ProbeInfo* c = resp.add_probes();
  c->set_name("c1");
  c->set_healthy(true);
  std::string table = ProbesTable(resp);
  EXPECT_NE(table.find("ipv4:198.51.100.7:40000"), std::string::npos) << table;
  EXPECT_NE(table.find("203.0.113.5,2001:db8::5"), std::string::npos) << table;
  EXPECT_NE(table.find("probe b1 is unhealthy: not connected to the collector"), std::string::npos)
      << table;
  std::string lines = IgnoreIpLines(resp);
  EXPECT_NE(lines.find("\nignoreip = 127.0.0.1/8 ::1 198.51.100.7 2001:db8::5 203.0.113.5\n"),
            std::string::npos)
      << lines;
  EXPECT_NE(lines.find("\nPerSourcePenaltyExemptList 198.51.100.7,2001:db8::5,203.0.113.5\n"),
            std::string::npos)
      << lines;
  EXPECT_NE(lines.find("# probe c1: no source address known yet"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("rm -rf"), std::string::npos) << lines;
  nlohmann::json j = ProbesJson(resp);
  EXPECT_EQ(j["probes"][0]["peer"], "ipv4:198.51.100.7:40000");
  EXPECT_EQ(j["probes"][1]["healthy"], false);
}

}  // namespace
}  // namespace parallax::cli
