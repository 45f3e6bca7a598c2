// End to end with the real servers, all on loopback: a collector and two
// probes (real processes) check three targets; a real Prometheus scrapes the
// collector with the shipped config and rules (every `for:` cut to 2s); a
// real Alertmanager with the shipped routes and inhibit rules receives the
// alerts and notifies a loopback webhook. A refused port and a port whose
// accept queue is full (connects time out) must raise ParallaxSSHRefused and
// ParallaxSSHTimesOut with the right labels and annotations, page through the
// critical route, feed every dashboard query with data, and resolve once the
// ports answer SSH.
#include <gtest/gtest.h>

#include <set>

#include "tests/integration/cluster.h"
#include "tests/observability/dashboard_queries.h"
#include "tests/observability/http_util.h"
#include "tests/observability/servers.h"
#include "tests/observability/ssh_port.h"

namespace parallax::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The Alertmanager alert with this alertname and target label, or null.
json FindAlert(const json& alerts, const std::string& name, const std::string& target) {
  if (!alerts.is_array()) return nullptr;
  for (const auto& a : alerts) {
    const json& l = a["labels"];
    if (l.value("alertname", "") == name && l.value("target", "") == target) return a;
  }
  return nullptr;
}

// Alerts posted to the webhook path with this status, as "alertname/target".
std::set<std::string> Notified(const WebhookRecorder& hooks, const std::string& path,
                               const std::string& status) {
  std::set<std::string> out;
  for (const std::string& body : hooks.Bodies(path)) {
    json n = json::parse(body, nullptr, false);
    if (!n.is_object()) continue;
    for (const auto& a : n["alerts"]) {
      if (a.value("status", "") != status) continue;
      out.insert(a["labels"].value("alertname", "") + "/" + a["labels"].value("target", ""));
    }
  }
  return out;
}

// The cause the collector exports as current (value 1) for `target`.
std::string ExportedCause(const Prometheus& prom, const std::string& target) {
  json r = prom.Query("parallax_target_cause{target=\"" + target + "\"} == 1");
  if (!r.is_object() || r["data"]["result"].size() != 1) return "";
  return r["data"]["result"][0]["metric"].value("cause", "");
}

TEST(AlertingEndToEnd, TimeoutAndRefusedPageWithLabelsFeedTheDashboardAndResolve) {
  TempDir dir;
  SshPort good, refused, slow;
  ASSERT_TRUE(good.Answer());
  ASSERT_TRUE(slow.TimeOut()) << "could not fill the accept queue of 127.0.0.1:" << slow.port();

  // A real sshd too: its host key feeds the dashboard's key panel
  // (parallax_pair_hostkey_info needs a completed key exchange).
  std::string sshd_why;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir, &sshd_why);
  ASSERT_TRUE(sshd) << sshd_why;

  Cluster cluster(dir);
  cluster.Configure({{"good", "127.0.0.1", good.port(), ""},
                     {"refused", "127.0.0.1", refused.port(), ""},
                     {"slow", "127.0.0.1", slow.port(), ""},
                     {"keyed", "127.0.0.1", sshd->port(), ""}},
                    "1s", "700ms");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "lo-a"}, {"site", "here"}});
  cluster.StartProbe("p2", {{"network", "lo-b"}, {"site", "there"}});

  WebhookRecorder hooks;
  ASSERT_NE(hooks.port(), 0);
  std::string why;
  std::unique_ptr<Alertmanager> am = Alertmanager::Start(dir, hooks.port(), &why);
  ASSERT_TRUE(am) << why;
  std::unique_ptr<Prometheus> prom =
      Prometheus::Start(dir, cluster.metrics_port(), am->port(), "2s", &why);
  ASSERT_TRUE(prom) << why;

  // 1. Both alerts reach Alertmanager, active (not inhibited), with their labels.
  json alerts;
  bool fired = WaitFor(
      [&] {
        alerts = am->Alerts();
        return !FindAlert(alerts, "ParallaxSSHRefused", "refused").is_null() &&
               !FindAlert(alerts, "ParallaxSSHTimesOut", "slow").is_null();
      },
      seconds(60));
  ASSERT_TRUE(fired) << alerts.dump(2) << "\nprometheus alerts: "
                     << HttpCall(prom->port(), "GET", "/api/v1/alerts").body << "\ncollector:\n"
                     << cluster.collector()->log();

  json r = FindAlert(alerts, "ParallaxSSHRefused", "refused");
  EXPECT_EQ(r["labels"]["cause"], "ssh_refused") << r.dump(2);
  EXPECT_EQ(r["labels"]["severity"], "critical");
  EXPECT_EQ(r["labels"]["job"], "parallax-collector");
  EXPECT_EQ(r["status"]["state"], "active");
  EXPECT_EQ(r["annotations"]["summary"], "SSH to refused is refused");
  EXPECT_NE(r["annotations"]["description"].get<std::string>().find("refuses the connection"),
            std::string::npos);
  EXPECT_EQ(r["annotations"]["runbook"].get<std::string>().rfind(
                "Evidence: parallax explain refused. 1) Check that sshd runs", 0),
            0u)
      << r["annotations"].dump(2);

  json t = FindAlert(alerts, "ParallaxSSHTimesOut", "slow");
  std::string cause = t["labels"].value("cause", "");
  // With ICMP permission the loopback host answers pings: firewall_block;
  // without, there is no liveness evidence: host_offline. Either must match
  // what the collector diagnosed.
  EXPECT_TRUE(cause == "host_offline" || cause == "firewall_block") << t.dump(2);
  EXPECT_EQ(cause, ExportedCause(*prom, "slow"));
  EXPECT_EQ(t["labels"]["severity"], "critical");
  EXPECT_EQ(t["status"]["state"], "active");
  EXPECT_EQ(t["annotations"]["summary"], "SSH to slow times out");
  EXPECT_NE(t["annotations"]["description"].get<std::string>().find("times out"),
            std::string::npos);
  EXPECT_NE(t["annotations"]["runbook"].get<std::string>().find("parallax explain slow"),
            std::string::npos);

  // The healthy target raises nothing.
  for (const auto& a : alerts) {
    EXPECT_NE(a["labels"].value("target", ""), "good") << a.dump(2);
  }

  // 2. The critical route pages: both reach the pager webhook, grouped by
  // alertname and cause.
  bool paged = WaitFor(
      [&] {
        auto n = Notified(hooks, "/parallax-pager", "firing");
        return n.count("ParallaxSSHRefused/refused") && n.count("ParallaxSSHTimesOut/slow");
      },
      seconds(20));
  EXPECT_TRUE(paged) << am->log();
  for (const std::string& body : hooks.Bodies("/parallax-pager")) {
    json n = json::parse(body);
    EXPECT_EQ(n["receiver"], "parallax-pager");
    EXPECT_TRUE(n["groupLabels"].contains("cause")) << n["groupLabels"].dump();
  }
  EXPECT_TRUE(hooks.Bodies("/parallax-tickets").empty());

  // 3. Every dashboard query parses and returns data.
  json dashboard = json::parse(ReadFile(SourcePath("dashboard/parallax.json")), nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << "dashboard/parallax.json does not parse";
  std::vector<PanelQuery> queries = PanelQueries(dashboard);
  ASSERT_GE(queries.size(), 10u);
  for (const PanelQuery& q : queries) {
    std::string expr = SubstituteGrafanaVariables(q.expr);
    json reply;
    // Rate windows need two samples; give fresh series a few scrapes.
    bool data = WaitFor(
        [&] {
          reply = prom->Query(expr);
          return reply.is_object() && reply.value("status", "") == "success" &&
                 !reply["data"]["result"].empty();
        },
        seconds(15));
    EXPECT_TRUE(data) << q.where << ": " << expr << "\n" << reply.dump();
  }
  std::vector<std::string> bad;
  for (const VariableQuery& v : VariableQueries(dashboard, &bad)) {
    json reply = prom->LabelValues(v.label, v.selector);
    ASSERT_TRUE(reply.is_object()) << "variable " << v.name;
    EXPECT_EQ(reply.value("status", ""), "success") << "variable " << v.name << reply.dump();
    EXPECT_FALSE(reply["data"].empty()) << "variable " << v.name << " has no values";
  }
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);

  // 4. Fixed: both ports answer SSH; the alerts leave Alertmanager and the
  // pager gets the resolutions.
  ASSERT_TRUE(refused.Answer());
  ASSERT_TRUE(slow.Answer());
  bool resolved = WaitFor(
      [&] {
        alerts = am->Alerts();
        return alerts.is_array() && FindAlert(alerts, "ParallaxSSHRefused", "refused").is_null() &&
               FindAlert(alerts, "ParallaxSSHTimesOut", "slow").is_null();
      },
      seconds(60));
  EXPECT_TRUE(resolved) << alerts.dump(2);
  bool notified = WaitFor(
      [&] {
        auto n = Notified(hooks, "/parallax-pager", "resolved");
        return n.count("ParallaxSSHRefused/refused") && n.count("ParallaxSSHTimesOut/slow");
      },
      seconds(20));
  EXPECT_TRUE(notified) << am->log();
  EXPECT_EQ(ExportedCause(*prom, "refused"), "ok");
  EXPECT_EQ(ExportedCause(*prom, "slow"), "ok");
}

}  // namespace
}  // namespace parallax::testing
