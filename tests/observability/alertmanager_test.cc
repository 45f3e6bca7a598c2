// The shipped Alertmanager config (deploy/alertmanager/alertmanager.yml) in a
// real Alertmanager on loopback, fed alerts shaped like the Prometheus rules'
// through its API: routing by severity, grouping by cause, and each inhibit
// rule muting exactly the alerts it explains (and not the others).
#include <gtest/gtest.h>

#include <set>

#include "tests/observability/http_util.h"
#include "tests/observability/servers.h"

namespace parallax::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

json Alert(const std::string& name, const std::string& severity, json labels) {
  labels["alertname"] = name;
  labels["severity"] = severity;
  labels["job"] = "parallax-collector";
  return {{"labels", labels}, {"annotations", {{"summary", name}}}};
}

class AlertmanagerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(hooks_.port(), 0);
    std::string why;
    am_ = Alertmanager::Start(dir_, hooks_.port(), &why);
    ASSERT_TRUE(am_) << why;
  }

  // Posts `alerts` and returns the state ("active", "suppressed") of each, by
  // alertname/target-or-network-or-probe, once it equals `want` or after 10 s
  // (the inhibitor learns of new source alerts asynchronously).
  std::map<std::string, std::string> PostAndRead(const json& alerts,
                                                 const std::map<std::string, std::string>& want) {
    EXPECT_TRUE(am_->PostAlerts(alerts));
    std::map<std::string, std::string> states;
    WaitFor(
        [&] {
          states.clear();
          json listed = am_->Alerts();
          if (!listed.is_array()) return false;
          for (const auto& a : listed) {
            const json& l = a["labels"];
            std::string key = l.value("alertname", "") + "/" + l.value("target", "") +
                              l.value("network", "") + l.value("probe", "");
            // Inhibition is computed when the alert is listed; suppressed
            // alerts name their source.
            std::string state = a["status"].value("state", "");
            if (state == "suppressed" && a["status"]["inhibitedBy"].empty()) state = "silenced";
            states[key] = state;
          }
          return states == want;
        },
        seconds(10));
    return states;
  }

  // alertname/target of the alerts in notifications to `path`, one set per notification.
  std::vector<std::set<std::string>> Notifications(const std::string& path) {
    std::vector<std::set<std::string>> out;
    for (const std::string& body : hooks_.Bodies(path)) {
      json n = json::parse(body, nullptr, false);
      std::set<std::string> s;
      for (const auto& a : n["alerts"]) {
        s.insert(a["labels"].value("alertname", "") + "/" + a["labels"].value("target", "") +
                 a["labels"].value("network", ""));
      }
      out.push_back(s);
    }
    return out;
  }

  TempDir dir_;
  WebhookRecorder hooks_;
  std::unique_ptr<Alertmanager> am_;
};

TEST_F(AlertmanagerConfigTest, IspBlockMutesPartialAndSourceBlockButNeverTimeouts) {
  // The network alert mutes source_block and partial, never timeouts or refused.
  std::map<std::string, std::string> want = {
      {"ParallaxNetworkSSHBlocked/isp-a", "active"}, {"ParallaxSSHSourceBlocked/t1", "suppressed"},
      {"ParallaxSSHPartial/t2", "suppressed"},       {"ParallaxSSHTimesOut/t3", "active"},
      {"ParallaxSSHTimesOut/t4", "active"},          {"ParallaxSSHRefused/t5", "active"}};
  auto states = PostAndRead(
      json::array({
          Alert("ParallaxNetworkSSHBlocked", "warning",
                {{"network", "isp-a"}, {"cause", "isp_block"}}),
          Alert("ParallaxSSHSourceBlocked", "warning",
                {{"target", "t1"}, {"cause", "source_block"}}),
          Alert("ParallaxSSHPartial", "info", {{"target", "t2"}, {"cause", "partial"}}),
          Alert("ParallaxSSHTimesOut", "critical", {{"target", "t3"}, {"cause", "host_offline"}}),
          Alert("ParallaxSSHTimesOut", "critical", {{"target", "t4"}, {"cause", "host_offline"}}),
          Alert("ParallaxSSHRefused", "critical", {{"target", "t5"}, {"cause", "ssh_refused"}}),
      }),
      want);
  EXPECT_EQ(states, want);

  // Routing: critical pages, grouped by alertname and cause (t3 and t4 in one
  // notification, t5 in its own); warning opens a ticket; the muted
  // source_block alert notifies nobody.
  bool paged = WaitFor([&] { return Notifications("/parallax-pager").size() >= 2; }, seconds(15));
  ASSERT_TRUE(paged) << am_->log();
  WaitFor([&] { return !Notifications("/parallax-tickets").empty(); }, seconds(10));
  std::this_thread::sleep_for(seconds(2));  // a wrongly routed notification would arrive by now
  auto pages = Notifications("/parallax-pager");
  std::set<std::set<std::string>> distinct(pages.begin(), pages.end());
  EXPECT_EQ(distinct,
            (std::set<std::set<std::string>>{{"ParallaxSSHTimesOut/t3", "ParallaxSSHTimesOut/t4"},
                                             {"ParallaxSSHRefused/t5"}}));
  auto tickets = Notifications("/parallax-tickets");
  std::set<std::set<std::string>> ticket_set(tickets.begin(), tickets.end());
  EXPECT_EQ(ticket_set, (std::set<std::set<std::string>>{{"ParallaxNetworkSSHBlocked/isp-a"}}));
  EXPECT_EQ(hooks_.Paths(), (std::vector<std::string>{"/parallax-pager", "/parallax-tickets"}));
}

TEST_F(AlertmanagerConfigTest, ProbeOutageMutesPartialAndSourceBlock) {
  std::map<std::string, std::string> want = {{"ParallaxProbeDisconnected/fra1", "active"},
                                             {"ParallaxSSHPartial/t1", "suppressed"},
                                             {"ParallaxSSHSourceBlocked/t2", "suppressed"},
                                             {"ParallaxSSHUnresponsive/t3", "active"}};
  auto states =
      PostAndRead(json::array({
                      Alert("ParallaxProbeDisconnected", "warning", {{"probe", "fra1"}}),
                      Alert("ParallaxSSHPartial", "info", {{"target", "t1"}, {"cause", "partial"}}),
                      Alert("ParallaxSSHSourceBlocked", "warning",
                            {{"target", "t2"}, {"cause", "source_block"}}),
                      Alert("ParallaxSSHUnresponsive", "warning",
                            {{"target", "t3"}, {"cause", "ssh_unresponsive"}}),
                  }),
                  want);
  EXPECT_EQ(states, want);
}

TEST_F(AlertmanagerConfigTest, CollectorDownMutesEveryOtherParallaxAlert) {
  // SomethingElse is not Parallax's to mute.
  std::map<std::string, std::string> want = {{"ParallaxCollectorDown/", "active"},
                                             {"ParallaxSSHTimesOut/t1", "suppressed"},
                                             {"ParallaxProbeUnhealthy/ams1", "suppressed"},
                                             {"SomethingElse/t9", "active"}};
  auto states = PostAndRead(
      json::array({
          Alert("ParallaxCollectorDown", "critical", {{"instance", "127.0.0.1:9420"}}),
          Alert("ParallaxSSHTimesOut", "critical", {{"target", "t1"}, {"cause", "firewall_block"}}),
          Alert("ParallaxProbeUnhealthy", "warning", {{"probe", "ams1"}}),
          Alert("SomethingElse", "critical", {{"target", "t9"}}),
      }),
      want);
  EXPECT_EQ(states, want);
}

}  // namespace
}  // namespace parallax::testing
