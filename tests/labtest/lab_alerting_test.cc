// Alerts from real faults: Parallax in the network lab, a real Prometheus
// with the shipped rules (every `for:` cut to 2 s) and a real Alertmanager
// with the shipped routes and inhibit rules. `offline` on a target must raise
// "SSH to t1 times out" with cause host_offline and resolve after `clear`;
// `isp-block` must raise exactly one alert for the blocked network and no
// per-target alert at all.
//
// Prometheus, Alertmanager and the webhook recorder run inside the lab's
// collector namespace: this test process enters it (setns) after the lab is
// up, so everything it starts and every request it makes stays on that
// namespace's loopback, sealed from the machine's network.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include "tests/labtest/lab_cluster.h"
#include "tests/observability/http_util.h"
#include "tests/observability/servers.h"

namespace parallax::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::vector<json> Active(const json& alerts, const std::string& name) {
  std::vector<json> out;
  if (!alerts.is_array()) return out;
  for (const json& a : alerts) {
    if (a["labels"].value("alertname", "") == name && a["status"].value("state", "") == "active") {
      out.push_back(a);
    }
  }
  return out;
}

TEST(LabAlerting, OfflinePagesAndResolvesIspBlockIsOneAlertPerNetwork) {
  std::string why;
  bool can_run = false;
  std::unique_ptr<LabCluster> lab = LabCluster::Up(
      "interval: 1s\ntimeout: 600ms\nliveness_ports: [80]\ndiagnosis:\n  hysteresis: 2\n", &why,
      &can_run);
  if (!lab && !can_run) GTEST_SKIP() << "network lab unavailable: " << why;
  ASSERT_TRUE(lab) << why;

  // Enter the collector's namespace for the rest of the test (this thread
  // only; every thread and process created from now on inherits it), and
  // leave it before the lab goes down (`down` kills whatever is inside).
  struct NamespaceGuard {
    int home = open("/proc/self/ns/net", O_RDONLY);
    ~NamespaceGuard() {
      if (home >= 0) setns(home, CLONE_NEWNET);
      close(home);
    }
  };
  NamespaceGuard leave_before_down;  // destroyed before `lab`: declared after it
  int ns = open(("/var/run/netns/" + lab->collector_namespace()).c_str(), O_RDONLY);
  ASSERT_GE(ns, 0);
  ASSERT_EQ(setns(ns, CLONE_NEWNET), 0);
  close(ns);

  TempDir dir;
  WebhookRecorder hooks;
  std::unique_ptr<Alertmanager> am = Alertmanager::Start(dir, hooks.port(), &why);
  ASSERT_TRUE(am) << why;
  std::unique_ptr<Prometheus> prom = Prometheus::Start(dir, 9420, am->port(), "2s", &why);
  ASSERT_TRUE(prom) << why;
  ASSERT_TRUE(WaitFor(
      [&] {
        json r = prom->Query("min(parallax_target_up)");
        return r.is_object() && !r["data"]["result"].empty() &&
               r["data"]["result"][0]["value"][1] == "1";
      },
      seconds(60)))
      << "not all targets up before the faults:\n" << lab->CliText({"status"});

  // 1. offline t1: "SSH to t1 times out", cause host_offline; resolves after clear.
  ASSERT_EQ(lab->Lab({"offline", "t1", "unreach"}).exit_code, 0);
  json alerts;
  ASSERT_TRUE(WaitFor(
      [&] {
        alerts = am->Alerts();
        for (const json& a : Active(alerts, "ParallaxSSHTimesOut")) {
          if (a["labels"]["target"] == "t1" && a["labels"]["cause"] == "host_offline") return true;
        }
        return false;
      },
      seconds(60)))
      << alerts.dump(1) << "\n" << lab->CliText({"explain", "t1"});
  ASSERT_EQ(lab->Lab({"clear"}).exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        alerts = am->Alerts();
        return alerts.is_array() && Active(alerts, "ParallaxSSHTimesOut").empty();
      },
      seconds(60)))
      << "the timeout alert did not resolve:\n" << alerts.dump(1);

  // 2. isp-block isp-b: one alert for the network, no per-target alert.
  ASSERT_EQ(lab->Lab({"isp-block", "isp-b"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return !Active(am->Alerts(), "ParallaxNetworkSSHBlocked").empty(); },
                      seconds(60)))
      << am->Alerts().dump(1) << "\n" << lab->CliText({"explain"});
  // Give per-target rules time to fire if they were going to (for: 2s).
  std::this_thread::sleep_for(seconds(6));
  alerts = am->Alerts();
  std::vector<json> blocked = Active(alerts, "ParallaxNetworkSSHBlocked");
  ASSERT_EQ(blocked.size(), 1u) << alerts.dump(1);
  EXPECT_EQ(blocked[0]["labels"]["network"], "isp-b");
  for (const json& a : alerts) {
    std::string name = a["labels"].value("alertname", "");
    EXPECT_TRUE(name == "ParallaxNetworkSSHBlocked" || a["labels"].value("target", "").empty())
        << "per-target alert during an ISP block: " << a.dump(1);
  }
  ASSERT_EQ(lab->Lab({"clear"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Active(am->Alerts(), "ParallaxNetworkSSHBlocked").empty(); },
                      seconds(60)));
}

}  // namespace
}  // namespace parallax::testing
