// The fault matrix: every fault of the network lab (tests/netlab), injected
// for real, must show as the right per-probe outcomes in `parallax status`
// (issue 3) and as the right cause in `parallax explain` (issues 4, 10), and
// everything must return to ok after `clear`. One lab for the whole suite:
// this binary is one ctest test.
//
// Six targets: faults on different targets run together, in rounds of four,
// while t5 and t6 stay healthy (the diagnosis needs probes that reach
// something: a probe failing everything is a probe problem). Faults of a
// whole network or probe (isp-block, egress-block, site-down) run alone.
//
// Clocks (issue 9): probe a1 runs 10 minutes behind and c1 10 minutes ahead
// (libfaketime, LD_PRELOAD); every expectation is the one of probes in sync.
// PARALLAX_LAB_IN_SYNC=1 runs every probe in sync, to compare.
//
// Each cause should appear within hysteresis x interval + timeout of the
// fault (3.6 s here) plus the time a failing check takes to report (its
// liveness checks and path trace, path_budget 3 s). The test prints every
// measured delay against that bound and asserts only a generous ceiling (the
// wait), as timings belong to bench/.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <thread>

#include "tests/labtest/lab_cluster.h"

namespace parallax::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Interval 1 s, timeout 600 ms, hysteresis 3 (a new cause needs three
// evaluations in a row, one per second); liveness, alt ports, closed port and
// path traces keep their defaults.
constexpr const char* kYaml = "interval: 1s\ntimeout: 600ms\ndiagnosis:\n  hysteresis: 3\n";
constexpr double kBoundS = 3 * 1.0 + 0.6;  // hysteresis x interval + timeout
constexpr const char* kBehind = "a1";      // 10 minutes behind
constexpr const char* kAhead = "c1";       // 10 minutes ahead
// fail2ban on t4 bans a source after this many failures (its connections,
// aggressive mode) within 60 s. a1 also checks t4 as t4-isp-a (checked from
// isp-a only), so it is banned after about half as long as the others: the
// bans come probe by probe, at least one interval apart (cause probes_banned).
constexpr int kFail2banMaxRetry = 8;

LabCluster* g_lab = nullptr;

// Outcomes accepted for one probe x target.
using Accept = std::set<std::string>;
// (probe, target) -> accepted outcomes; pairs not listed must be "ok".
using Expect = std::map<std::pair<std::string, std::string>, Accept>;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Outcome(const json& status, const std::string& target, const std::string& probe) {
  if (!status.is_object()) return "";
  for (const auto& t : status["targets"]) {
    if (t["name"] != target) continue;
    for (const auto& p : t["probes"]) {
      if (p["probe"] == probe) return p["outcome"];
    }
  }
  return "";
}

std::string Cause(const json& status, const std::string& target) {
  if (!status.is_object()) return "";
  for (const auto& t : status["targets"]) {
    if (t["name"] == target) return t["cause"];
  }
  return "";
}

const json* Evidence(const json& verdict, const std::string& probe) {
  if (!verdict.is_object() || !verdict.contains("evidence")) return nullptr;
  for (const auto& e : verdict["evidence"]) {
    if (e.value("probe", "") == probe) return &e;
  }
  return nullptr;
}

bool Contains(const json& verdict, const std::string& key, const std::string& text) {
  return verdict.is_object() && verdict.value(key, "").find(text) != std::string::npos;
}

// One fault of a round: on `target`, every probe's outcome in `expect` (ok
// when not listed) and the target's cause `cause`; `check` inspects the
// verdict (`parallax -o json explain target`) once the cause is there.
struct Case {
  std::string name;
  std::vector<std::string> fault;
  std::string target;
  Expect expect;
  std::string cause;
  std::function<void(const json& verdict)> check;
  bool print_explain = false;
};

class FaultMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    LabOptions options;
    options.targets = 6;
    const char* in_sync = std::getenv("PARALLAX_LAB_IN_SYNC");
    if (in_sync == nullptr || std::string(in_sync) != "1") {
      options.probe_clock_offset = {{kBehind, "-10m"}, {kAhead, "+10m"}};
    }
    skewed_ = !options.probe_clock_offset.empty();
    // Targets by DNS name (the lab's per-site resolvers: dns-stale), host
    // keys checked every 2 s on t2 and t3 (hostkey-site, hostkey-swap).
    options.targets_by_name = true;
    options.target_yaml = {{"t2", "hostkey_interval: 2s"}, {"t3", "hostkey_interval: 2s"}};
    options.extra_targets_yaml = std::string("  - name: t4-isp-a\n    host: t4.") + kLabDnsZone +
                                 "\n    probes:\n      network: isp-a\n";
    auto start = Clock::now();
    static std::unique_ptr<LabCluster> lab = LabCluster::Up(kYaml, &why, &can_run_, options);
    g_lab = lab.get();
    if (g_lab == nullptr) skip_reason_ = why;
    std::printf("[ lab ] up in %.1f s (6 targets, probes %s)\n", Since(start),
                skewed_ ? "a1 10 min behind, c1 10 min ahead" : "in sync");
  }

  void SetUp() override {
    if (g_lab == nullptr && !can_run_) GTEST_SKIP() << "network lab unavailable: " << skip_reason_;
    ASSERT_NE(g_lab, nullptr) << "the network lab failed: " << skip_reason_;
    ASSERT_TRUE(WaitAllOk()) << "lab not all ok before the test: " << last_mismatch_ << "\n"
                             << g_lab->CliText({"status"});
  }
  void TearDown() override {
    if (g_lab == nullptr) return;
    auto start = Clock::now();
    g_lab->Lab({"clear"});
    if (last_test_) return;  // nothing runs after it: the lab goes down
    EXPECT_TRUE(WaitAllOk()) << "not back to ok after clear: " << last_mismatch_ << "\n"
                             << g_lab->CliText({"status"}) << g_lab->CliText({"explain"});
    std::printf("[ clear ] every target ok after %.1f s\n", Since(start));
  }

  // Every probe reads SSH from every target and every cause is ok.
  bool WaitAllOk() { return WaitOutcomesAndCauses({}, {}, seconds(60)); }

  // Every mismatch with `expect` and `causes` in `status`, one a line (empty:
  // none); `pairs` (if given) gets each probe -> target pair that differs.
  std::string Mismatch(const json& status, const Expect& expect,
                       const std::map<std::string, std::string>& causes,
                       std::vector<std::pair<std::string, std::string>>* pairs = nullptr) {
    std::string out;
    for (const LabHost& t : g_lab->targets()) {
      for (const LabHost& p : g_lab->probes()) {
        auto it = expect.find({p.name, t.name});
        Accept accept = it == expect.end() ? Accept{"ok"} : it->second;
        std::string got = Outcome(status, t.name, p.name);
        if (accept.count(got)) continue;
        out += p.name + " -> " + t.name + ": " + got + "\n";
        if (pairs != nullptr) pairs->push_back({p.name, t.name});
      }
      auto c = causes.find(t.name);
      std::string want = c == causes.end() ? "ok" : c->second;
      if (Cause(status, t.name) != want) {
        out += t.name + " cause " + Cause(status, t.name) + ", want " + want + "\n";
      }
    }
    return out;
  }

  // What the lab itself shows for the first pairs that differ: its services,
  // a raw connect from the probe's namespace (what the target sends), the
  // target's sshd log and its sockets on port 22, the probe's log. A flaky
  // failure in CI is then explained by its own output.
  std::string LabDiagnostics(const std::vector<std::pair<std::string, std::string>>& pairs) {
    if (pairs.empty()) return "";
    std::string out = "--- lab.sh status\n" + g_lab->Lab({"status"}).out;
    std::set<std::string> seen;
    for (const auto& [probe, target] : pairs) {
      if (!seen.insert(target).second || seen.size() > 2) continue;
      CommandResult raw = g_lab->Lab({"probe", probe, target, "--timeout", "3"});
      out += "--- lab.sh probe " + probe + " " + target + ": " + raw.out + raw.err;
      CommandResult ss = g_lab->Lab({"exec", target, "ss", "-tanH", "sport = :22"});
      size_t sockets = std::count(ss.out.begin(), ss.out.end(), '\n');
      out += "--- " + target + ": " + std::to_string(sockets) +
             " TCP sockets on port 22, first:\n" + ss.out.substr(0, 1200);
      CommandResult log =
          RunCommand({"tail", "-n", "15", g_lab->state_dir() + "/hosts/" + target + "/sshd.log"});
      out += "--- " + target + " sshd.log (last 15 lines):\n" + log.out + log.err;
      std::string plog = g_lab->ProbeLog(probe);
      out += "--- " + probe + " log (last 1,500 bytes):\n" +
             plog.substr(plog.size() > 1500 ? plog.size() - 1500 : 0) + "\n";
    }
    return out;
  }

  bool WaitOutcomesAndCauses(const Expect& expect, const std::map<std::string, std::string>& causes,
                             std::chrono::seconds timeout) {
    json status;
    std::string mismatch;
    std::vector<std::pair<std::string, std::string>> pairs;
    bool ok = WaitFor(
        [&] {
          status = g_lab->Cli({"status"});
          pairs.clear();
          mismatch = Mismatch(status, expect, causes, &pairs);
          return mismatch.empty();
        },
        timeout);
    if (!ok) last_mismatch_ = mismatch + LabDiagnostics(pairs) + "--- status\n" + status.dump(1);
    return ok;
  }

  // Injects every case's fault (one after the other: lab.sh serialises), waits
  // until each case holds (its target's outcomes and cause; printed: how long
  // after its fault was in place, to the CLI's poll granularity), then until all
  // hold together with every other target ok, then runs each case's check.
  void Round(const std::vector<Case>& cases) {
    auto start = Clock::now();
    Expect all;
    std::map<std::string, std::string> causes;
    std::vector<Clock::time_point> injected;  // when each fault's lab.sh returned
    for (const Case& c : cases) {
      auto before = Clock::now();
      CommandResult r = g_lab->Lab(c.fault);
      ASSERT_EQ(r.exit_code, 0) << c.name << ": " << r.err;
      injected.push_back(Clock::now());
      if (Since(before) > 5)
        std::printf("[ inject ] %s took %.1f s\n", c.name.c_str(), Since(before));
      all.insert(c.expect.begin(), c.expect.end());
      causes[c.target] = c.cause;
    }
    std::printf("[ round ] %zu faults injected in %.1f s\n", cases.size(), Since(start));
    std::vector<double> took(cases.size(), -1);
    json status;
    WaitFor(
        [&] {
          status = g_lab->Cli({"status"});
          bool done = true;
          for (size_t i = 0; i < cases.size(); ++i) {
            if (took[i] >= 0) continue;
            const Case& c = cases[i];
            bool holds = Cause(status, c.target) == c.cause;
            for (const LabHost& p : g_lab->probes()) {
              auto it = c.expect.find({p.name, c.target});
              holds &= (it == c.expect.end() ? Accept{"ok"} : it->second)
                           .count(Outcome(status, c.target, p.name)) > 0;
            }
            if (holds) {
              took[i] = Since(injected[i]);
            } else {
              done = false;
            }
          }
          return done;
        },
        seconds(60));
    for (size_t i = 0; i < cases.size(); ++i) {
      if (took[i] >= 0) {
        std::printf("[ fault ] %-34s %-16s after %5.1f s (bound %.1f s + reporting)\n",
                    cases[i].name.c_str(), cases[i].cause.c_str(), took[i], kBoundS);
      } else {
        ADD_FAILURE() << cases[i].name << ": no " << cases[i].cause << " within 60 s:\n"
                      << g_lab->CliText({"explain", cases[i].target}) << "\n"
                      << status.dump(1);
      }
    }
    EXPECT_TRUE(WaitOutcomesAndCauses(all, causes, seconds(60)))
        << "the round's faults do not hold together: " << last_mismatch_;
    for (const Case& c : cases) {
      json verdict = g_lab->Cli({"explain", c.target});
      EXPECT_EQ(verdict.value("cause", ""), c.cause) << c.name << ": " << verdict.dump(1);
      if (c.check) {
        SCOPED_TRACE(c.name);
        c.check(verdict);
      }
      if (c.print_explain) {
        std::printf("[ explain ] %s: parallax explain %s\n%s\n", c.name.c_str(), c.target.c_str(),
                    g_lab->CliText({"explain", c.target}).c_str());
      }
    }
  }

  // Every probe sees `outcomes` for `target`.
  Expect AllProbes(const std::string& target, const Accept& outcomes) {
    Expect e;
    for (const LabHost& p : g_lab->probes()) e[{p.name, target}] = outcomes;
    return e;
  }

  // Waits until `target`'s cause is `cause`.
  bool WaitCause(const std::string& target, const std::string& cause,
                 std::chrono::seconds timeout) {
    return WaitFor([&] { return Cause(g_lab->Cli({"status"}), target) == cause; }, timeout);
  }

  // The SHA256 fingerprint (ssh-keygen -lf) of a public key in the lab's
  // state directory; empty if there is none.
  static std::string Fingerprint(const std::string& relative_path) {
    CommandResult r = RunCommand({"ssh-keygen", "-lf", g_lab->state_dir() + "/" + relative_path});
    size_t a = r.out.find(' ');
    if (r.exit_code != 0 || a == std::string::npos) return "";
    return r.out.substr(a + 1, r.out.find(' ', a + 1) - a - 1);
  }

  const LabHost& Host(const std::string& name) {
    for (const LabHost& h : g_lab->targets()) {
      if (h.name == name) return h;
    }
    static LabHost none;
    return none;
  }

  static std::string skip_reason_;
  static bool can_run_;
  static bool skewed_;
  std::string last_mismatch_;
  bool last_test_ = false;
};
std::string FaultMatrix::skip_reason_;
bool FaultMatrix::can_run_ = false;
bool FaultMatrix::skewed_ = false;

// The probes' clocks as the collector measured them: a1 10 minutes behind,
// c1 10 minutes ahead, the others in sync; nothing of theirs is stale.
TEST_F(FaultMatrix, SkewedProbeClocksAreMeasuredAndTheirResultsCount) {
  if (!skewed_) GTEST_SKIP() << "PARALLAX_LAB_IN_SYNC=1: every probe in sync";
  json status = g_lab->Cli({"status"});
  std::map<std::string, double> offsets;
  for (const auto& p : status["probes"]) {
    if (p["clock_offset_s"].is_number()) offsets[p["name"]] = p["clock_offset_s"];
  }
  ASSERT_EQ(offsets.size(), g_lab->probes().size()) << status["probes"].dump(1);
  EXPECT_NEAR(offsets[kBehind], -600, 5);
  EXPECT_NEAR(offsets[kAhead], 600, 5);
  EXPECT_NEAR(offsets["b1"], 0, 2);
  EXPECT_NEAR(offsets["b2"], 0, 2);
  json verdict = g_lab->Cli({"explain", "t5"});
  for (const auto& e : verdict["evidence"]) {
    EXPECT_EQ(e["role"], "agrees") << e.dump(1);
    EXPECT_LT(e["age_s"].get<double>(), 5) << e.dump(1);
  }
  std::printf("[ explain ] in sync run of the skewed probes: parallax explain t5\n%s\n",
              g_lab->CliText({"explain", "t5"}).c_str());
}

// What answers on port 22, and host firewalls that answer.
TEST_F(FaultMatrix, StoppedMovedAndRejectedSshd) {
  const std::string t4 = Host("t4").address;
  Round({
      {"sshd-stop t1",
       {"sshd-stop", "t1"},
       "t1",
       AllProbes("t1", {"refused"}),
       "ssh_refused",
       [&](const json& v) {
         EXPECT_EQ(v["evidence"].size(), g_lab->probes().size()) << v.dump(1);
         EXPECT_FALSE(v["remediation"].empty());
         // The incident opened with the cause; it closes after clear.
         json inc = g_lab->Cli({"incidents", "t1", "--open"});
         ASSERT_FALSE(inc["incidents"].empty()) << inc.dump(1);
         EXPECT_EQ(inc["incidents"][0]["cause"], "ssh_refused");
       },
       true},
      // Every probe finds SSH on the target's alt_ports (default [2222]).
      {"sshd-port t2 2222",
       {"sshd-port", "t2", "2222"},
       "t2",
       AllProbes("t2", {"refused"}),
       "ssh_moved",
       [](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "sshd answers on 2222, not on 22")) << v.dump(1);
       },
       true},
      // A reset from a firewall looks like a stopped sshd: said so.
      {"fw-reject-rst t3",
       {"fw-reject-rst", "t3"},
       "t3",
       AllProbes("t3", {"refused"}),
       "ssh_refused",
       [](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "A firewall rule can send resets too")) << v.dump(1);
       }},
      // nftables' reject: ICMP port unreachable from the host itself.
      {"fw-reject t4",
       {"fw-reject", "t4"},
       "t4",
       AllProbes("t4", {"refused"}),
       "firewall_block",
       [t4](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "rejected by the host itself")) << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "REJECT rule")) << v.dump(1);
         for (const auto& e : v["evidence"]) {
           ASSERT_TRUE(e["ssh_icmp_error"].is_object()) << e.dump(1);
           EXPECT_EQ(e["ssh_icmp_error"].value("sender", ""), t4) << e.dump(1);
         }
       }},
  });
}

// Firewalls that drop, on the host or on the path.
TEST_F(FaultMatrix, FirewallsOnTheHostAndOnThePath) {
  // The core router answers from its address on each probe's side:
  // 10.X.101.1, 10.X.102.1, 10.X.103.1.
  const std::string t1 = Host("t1").address;              // 10.X.10.11
  const std::string net = t1.substr(0, t1.find('.', 3));  // 10.X
  std::vector<std::string> core_uplinks;
  for (int k = 1; k <= 3; ++k) core_uplinks.push_back(net + ".10" + std::to_string(k) + ".1");
  Round({
      {"fw-reject-icmp t1",
       {"fw-reject-icmp", "t1"},
       "t1",
       AllProbes("t1", {"host_unreachable"}),
       "firewall_block"},
      {"fw-drop t2",
       {"fw-drop", "t2"},
       "t2",
       AllProbes("t2", {"timeout"}),
       "firewall_block",
       nullptr,
       true},
      // ICMP echo and SSH dropped, HTTPS up (a cloud default): found by the
      // default liveness ports.
      {"fw-https-only t3",
       {"fw-https-only", "t3"},
       "t3",
       AllProbes("t3", {"timeout"}),
       "firewall_block",
       [](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "port 443 open")) << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "a firewall drops SSH")) << v.dump(1);
       },
       true},
      {"path-prohibit t4",
       {"path-prohibit", "t4"},
       "t4",
       AllProbes("t4", {"host_unreachable"}),
       "firewall_block",
       [core_uplinks](const json& v) {
         bool named = false;
         for (const std::string& a : core_uplinks)
           named |= Contains(v, "summary", "router " + a + " ");
         EXPECT_TRUE(named) << "no core router address (" << ::testing::PrintToString(core_uplinks)
                            << ") in " << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "on the path, not the host")) << v.dump(1);
       },
       true},
  });
}

// Hosts gone, and servers that are not (or no longer) SSH.
TEST_F(FaultMatrix, DeadHostsAndWrongServers) {
  Round({
      // ARP gives up after ~0.9 s, later than the 600 ms connect timeout: either.
      {"offline t1 unreach",
       {"offline", "t1", "unreach"},
       "t1",
       AllProbes("t1", {"timeout", "host_unreachable"}),
       "host_offline"},
      {"offline t2 silent",
       {"offline", "t2", "silent"},
       "t2",
       AllProbes("t2", {"timeout"}),
       "host_offline"},
      {"tarpit t3",
       {"tarpit", "t3"},
       "t3",
       AllProbes("t3", {"banner_timeout"}),
       "ssh_unresponsive"},
      {"not-ssh t4", {"not-ssh", "t4"}, "t4", AllProbes("t4", {"not_ssh"}), "not_ssh"},
  });
}

// Per-source bans (seen from the skewed probes: they count like the others),
// sshd's own words, and sshd on a port nobody tries.
TEST_F(FaultMatrix, BansServerWordsAndUnknownPort) {
  Round({
      {std::string("ban t1 ") + kBehind + " drop",
       {"ban", "t1", kBehind, "drop"},
       "t1",
       {{{kBehind, "t1"}, {"timeout"}}},
       "source_block",
       [](const json& v) {
         const json* e = Evidence(v, kBehind);
         ASSERT_NE(e, nullptr) << v.dump(1);
         EXPECT_EQ((*e)["role"], "agrees (blocked)") << v.dump(1);
       },
       true},
      {std::string("ban t2 ") + kAhead + " reject",
       {"ban", "t2", kAhead, "reject"},
       "t2",
       {{{kAhead, "t2"}, {"refused"}}},
       "source_block"},
      {"maxstartups t3",
       {"maxstartups", "t3"},
       "t3",
       AllProbes("t3", {"closed", "reset", "banner_timeout"}),
       "ssh_unresponsive",
       [](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "Exceeded MaxStartups")) << v.dump(1);
       },
       true},
      {"sshd-port t4 2299",
       {"sshd-port", "t4", "2299"},
       "t4",
       AllProbes("t4", {"refused"}),
       "ssh_refused"},
  });
}

// What each site sees of the target, and what the target sees of the probes
// (issue 11), in one round: t1's name resolves to an old address at isp-a
// only (the lab's per-site dnsmasq), isp-b's router sends SSH to t2 to an
// sshd with another host key, t3's sshd gets a new host key, and a real
// fail2ban (sshd jail, mode aggressive, nftables) on t4 bans the probes.
// Then the remedies: `parallax hostkey accept t3` and fail2ban's ignoreip
// line from `parallax probes --ignoreip` bring them back to ok.
TEST_F(FaultMatrix, StaleDnsSwappedHostKeysAndFail2banBans) {
  const std::string net = Host("t1").address.substr(0, Host("t1").address.find('.', 3));
  const std::string t1_old = net + ".10.101";  // dns-stale's default "old address" of t1
  const std::string t1_name = std::string("t1.") + kLabDnsZone;
  const std::string t2_key = Fingerprint("hosts/t2/ssh_host_ed25519_key.pub");
  const std::string t3_key = Fingerprint("hosts/t3/ssh_host_ed25519_key.pub");
  ASSERT_FALSE(t2_key.empty());
  ASSERT_FALSE(t3_key.empty());
  auto start = Clock::now();
  Round({
      {"dns-stale t1 isp-a",
       {"dns-stale", "t1", "isp-a"},
       "t1",
       {{{"a1", "t1"}, {"timeout", "host_unreachable"}}},
       "dns_mismatch",
       [&](const json& v) {
         EXPECT_TRUE(Contains(v, "summary",
                              "isp-a resolves " + t1_name + " to " + t1_old + ", the others to " +
                                  Host("t1").address + "; SSH fails only at that address (a1)"))
             << v.dump(1);
         const json* a1 = Evidence(v, "a1");
         ASSERT_NE(a1, nullptr) << v.dump(1);
         EXPECT_EQ((*a1)["role"], "agrees") << v.dump(1);
       },
       true},
      {"hostkey-site t2 isp-b",
       {"hostkey-site", "t2", "isp-b"},
       "t2",
       {},
       "hostkey_mismatch",
       [&](const json& v) {
         const std::string other = Fingerprint("hosts/rb/hk-t2-key.pub");
         ASSERT_FALSE(other.empty());
         EXPECT_NE(other, t2_key);
         EXPECT_TRUE(Contains(v, "summary", other + " (ssh-ed25519) from isp-b (b1, b2)"))
             << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "sees the pinned key " + t2_key)) << v.dump(1);
         EXPECT_EQ(v["pinned_host_keys"], json::array({t2_key})) << v.dump(1);
         for (const char* p : {"b1", "b2"}) {
           const json* e = Evidence(v, p);
           ASSERT_NE(e, nullptr) << v.dump(1);
           EXPECT_EQ((*e)["host_key_fingerprint"], other) << v.dump(1);
         }
       },
       true},
      {"hostkey-swap t3",
       {"hostkey-swap", "t3"},
       "t3",
       {},
       "hostkey_changed",
       [&](const json& v) {
         const std::string swapped = Fingerprint("hosts/t3/ssh_host_ed25519_key_swapped.pub");
         ASSERT_FALSE(swapped.empty());
         EXPECT_TRUE(Contains(v, "summary", swapped + " (ssh-ed25519) from isp-a, isp-b, isp-c"))
             << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "not the pinned " + t3_key)) << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "parallax hostkey accept t3")) << v.dump(1);
       }},
      {"fail2ban t4",
       {"fail2ban", "t4", std::to_string(kFail2banMaxRetry)},
       "t4",
       AllProbes("t4", {"refused"}),
       "probes_banned",
       [&](const json& v) {
         EXPECT_TRUE(Contains(v, "summary", "the host bans the probes themselves")) << v.dump(1);
         EXPECT_TRUE(Contains(v, "summary", "fail2ban")) << v.dump(1);
         // a1 checks t4 twice (t4 and t4-isp-a): banned first.
         EXPECT_TRUE(Contains(v, "summary", "a1 first")) << v.dump(1);
         for (const LabHost& p : g_lab->probes()) {
           EXPECT_TRUE(Contains(v, "summary", p.address)) << p.name << ": " << v.dump(1);
         }
       },
       true},
  });
  std::printf("[ round ] DNS, host keys and fail2ban: every cause after %.1f s\n", Since(start));
  std::string f2b = g_lab->Lab({"fail2ban-client", "t4", "status", "sshd"}).out;
  std::printf("[ fail2ban ] t4: fail2ban-client status sshd\n%s\n", f2b.c_str());
  json incidents = g_lab->Cli({"incidents", "t4", "--open"});
  if (!incidents["incidents"].empty()) {
    std::string path;
    for (const auto& c : incidents["incidents"][0]["changes"]) path += " " + c.value("cause", "");
    std::printf("[ fail2ban ] t4's open incident went through:%s\n", path.c_str());
  }

  // A planned key change: re-pinned, ok again. (The waits below end as soon
  // as the cause is there; their bounds are for a starved machine: one run
  // saw t4 ok 40 s after the ignoreip line, fail2ban's reload being slow.)
  auto step = Clock::now();
  std::string accepted = g_lab->CliText({"hostkey", "accept", "t3"});
  std::printf("[ hostkey ] parallax hostkey accept t3\n%s", accepted.c_str());
  EXPECT_TRUE(WaitCause("t3", "ok", seconds(90))) << g_lab->CliText({"explain", "t3"});
  std::printf("[ hostkey ] t3 ok %.1f s after accept\n", Since(step));
  // t3's original key comes back with clear: changed again (re-pinned below,
  // so that every target is ok after this test), meanwhile fail2ban's turn.
  ASSERT_EQ(g_lab->Lab({"clear", "t3"}).exit_code, 0);

  // The exemption recipe: the ignoreip line, reload, unban.
  std::string lines = g_lab->CliText({"probes", "--ignoreip"});
  std::printf("[ fail2ban ] parallax probes --ignoreip\n%s", lines.c_str());
  size_t at = lines.find("ignoreip = ");
  ASSERT_NE(at, std::string::npos) << lines;
  std::string ignoreip = lines.substr(at, lines.find('\n', at) - at);
  for (const LabHost& p : g_lab->probes()) {
    EXPECT_NE(ignoreip.find(" " + p.address), std::string::npos) << p.name << ": " << ignoreip;
  }
  step = Clock::now();
  CommandResult exempt = g_lab->Lab({"fail2ban-ignoreip", "t4", ignoreip});
  ASSERT_EQ(exempt.exit_code, 0) << exempt.err;
  EXPECT_TRUE(WaitCause("t4", "ok", seconds(90))) << g_lab->CliText({"explain", "t4"});
  // Exempt, the probes stay unbanned while they keep checking.
  std::this_thread::sleep_for(seconds(2));
  std::string still = g_lab->Lab({"fail2ban-client", "t4", "status", "sshd"}).out;
  EXPECT_NE(still.find("Currently banned:\t0"), std::string::npos) << still;
  std::printf("[ fail2ban ] t4 ok %.1f s after the ignoreip line, nobody banned since\n",
              Since(step));

  EXPECT_TRUE(WaitCause("t3", "hostkey_changed", seconds(90))) << g_lab->CliText({"explain", "t3"});
  g_lab->CliText({"hostkey", "accept", "t3"});
  EXPECT_TRUE(WaitCause("t3", "ok", seconds(90))) << g_lab->CliText({"explain", "t3"});
  std::printf("[ round ] DNS, host keys and fail2ban: %.1f s in all\n", Since(start));
}

TEST_F(FaultMatrix, IspBlockIsIspBlockOnEveryTarget) {
  Expect e;
  std::map<std::string, std::string> causes;
  for (const LabHost& t : g_lab->targets()) {
    causes[t.name] = "isp_block";
    for (const LabHost& p : g_lab->probes()) {
      if (p.network == "isp-b") e[{p.name, t.name}] = {"timeout"};
    }
  }
  auto start = Clock::now();
  ASSERT_EQ(g_lab->Lab({"isp-block", "isp-b"}).exit_code, 0);
  EXPECT_TRUE(WaitOutcomesAndCauses(e, causes, seconds(60))) << last_mismatch_;
  std::printf("[ fault ] %-34s %-16s after %5.1f s\n", "isp-block isp-b", "isp_block",
              Since(start));
  json explain = g_lab->Cli({"explain", "t1"});
  EXPECT_EQ(explain["blocked_networks"], json::array({"isp-b"})) << explain.dump(1);
}

// One probe behind an egress filter (port 22 dropped for it alone, its
// network peer b2 fine): a probe problem; every target stays ok.
TEST_F(FaultMatrix, EgressFilteredProbeIsAProbeProblem) {
  const std::string series = "parallax_probe_ssh_egress_blocked{probe=\"b1\"}";
  auto start = Clock::now();
  ASSERT_EQ(g_lab->Lab({"egress-block", "b1"}).exit_code, 0);
  std::set<std::string> left_ok;  // targets whose cause left ok meanwhile
  std::string mismatch;
  Expect e;
  for (const LabHost& t : g_lab->targets()) e[{"b1", t.name}] = {"timeout"};
  bool seen = WaitFor(
      [&] {
        json status = g_lab->Cli({"status"});
        for (const LabHost& t : g_lab->targets()) {
          std::string c = Cause(status, t.name);
          if (!c.empty() && c != "ok") left_ok.insert(t.name + " " + c);
        }
        mismatch = Mismatch(status, e, {});
        return mismatch.empty() && MetricValue(g_lab->Metrics(), series) == 1;
      },
      seconds(60));
  EXPECT_TRUE(seen) << mismatch << "\n" << g_lab->CliText({"explain"}) << g_lab->Metrics();
  std::printf("[ fault ] %-34s %-16s after %5.1f s\n", "egress-block b1", "probe problem",
              Since(start));
  EXPECT_TRUE(left_ok.empty()) << "targets left ok: " << ::testing::PrintToString(left_ok);
  std::string text = g_lab->CliText({"explain"});
  EXPECT_NE(text.find("probe b1: cannot reach SSH on any"), std::string::npos) << text;
  json verdict = g_lab->Cli({"explain", "t1"});
  const json* b1 = Evidence(verdict, "b1");
  ASSERT_NE(b1, nullptr) << verdict.dump(1);
  EXPECT_EQ((*b1)["role"], "excluded: unhealthy probe") << verdict.dump(1);
  EXPECT_EQ(MetricValue(g_lab->Metrics(), "parallax_probe_ssh_egress_blocked{probe=\"b2\"}"), 0);
  std::printf("[ explain ] egress-block b1: parallax explain t1\n%s\n",
              g_lab->CliText({"explain", "t1"}).c_str());
}

TEST_F(FaultMatrix, SiteDownIsAProbeProblemNotATargetOutage) {
  // isp-c's probe cannot reach anything, the collector included: its last
  // results stay ok (stale) and no target may leave ok; the probe is unhealthy.
  CommandResult r = g_lab->Lab({"site-down", "isp-c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string unhealthy;
  bool seen = WaitFor(
      [&] {
        json explain = g_lab->Cli({"explain"});
        for (const auto& v : explain["verdicts"]) {
          EXPECT_EQ(v["cause"], "ok") << "target left ok during site-down: " << v.dump(1);
        }
        std::string out = g_lab->CliText({"explain"});
        size_t at = out.find("probe c1:");
        if (at == std::string::npos) return false;
        unhealthy = out.substr(at, out.find('\n', at) - at);
        return true;
      },
      seconds(30));
  EXPECT_TRUE(seen) << g_lab->CliText({"explain"});
  std::printf("[ site-down ] %s\n", unhealthy.c_str());
  // Stays so for a while: no false alarm on any target.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(seconds(1));
    json status = g_lab->Cli({"status"});
    for (const LabHost& t : g_lab->targets()) EXPECT_EQ(Cause(status, t.name), "ok") << t.name;
  }
}

TEST_F(FaultMatrix, FlappingFaultShorterThanHysteresisOpensNoIncident) {
  json before = g_lab->Cli({"incidents", "t2"});
  size_t incidents_before = before["incidents"].size();
  auto flap_start = std::chrono::system_clock::now();
  // Each blip is made by one command inside t2's namespace (a reset for
  // tcp/22 for 400 ms): lab.sh takes seconds on a loaded machine, which would
  // stretch a blip past the hysteresis.
  const std::string blip =
      "printf 'table inet netlab_flap {\\n chain input {\\n"
      "  type filter hook input priority 0; policy accept;\\n"
      "  tcp dport 22 reject with tcp reset\\n }\\n}\\n' | nft -f - && sleep 0.4; "
      "nft delete table inet netlab_flap";
  double longest = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    CommandResult r = RunCommand({"ip", "netns", "exec", Host("t2").ns, "sh", "-c", blip});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    longest = std::max(longest, Since(t0));
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  }
  std::printf("[ flap ] 5 blips, the longest %.1f s (hysteresis x interval %.1f s)\n", longest,
              3 * 1.0);
  // A blip as long as the hysteresis is a real fault: nothing left to prove.
  if (longest > 2.0) {
    GTEST_SKIP() << "the machine is too loaded: a 0.4 s blip lasted up to " << longest
                 << " s, as long as the hysteresis (3 evaluations, 1 s apart)";
  }
  // The probes did see the blips...
  int64_t since = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now() - flap_start)
                      .count();
  json history = g_lab->Cli(
      {"history", "t2", "--limit", "1000", "--since", std::to_string(since / 1000 + 2) + "s"});
  int refused = 0;
  for (const auto& e : history["entries"]) refused += e["outcome"] == "refused";
  EXPECT_GT(refused, 0) << "no check saw the blips; the test proves nothing";
  // ...but no incident opened.
  json after = g_lab->Cli({"incidents", "t2"});
  EXPECT_EQ(after["incidents"].size(), incidents_before) << after.dump(1);
}

// A probe 10 minutes ahead that hangs (SIGSTOP) stops counting within the
// stale window (3 intervals + timeout): its last ok must not turn a stopped
// sshd into source_block for long.
// Runs last: the stopped probe takes a while to reconnect after SIGCONT, and
// nothing needs the lab afterwards.
TEST_F(FaultMatrix, HungProbeStopsCountingWithinTheStaleWindow) {
  last_test_ = true;
  g_lab->SignalProbe(kAhead, SIGSTOP);
  auto stopped = Clock::now();
  ASSERT_EQ(g_lab->Lab({"sshd-stop", "t1"}).exit_code, 0);
  double excluded_after = -1;
  json verdict;
  bool refused = WaitFor(
      [&] {
        verdict = g_lab->Cli({"explain", "t1"});
        const json* e = Evidence(verdict, kAhead);
        if (excluded_after < 0 && e != nullptr &&
            (*e).value("role", "").rfind("excluded", 0) == 0) {
          excluded_after = Since(stopped);
        }
        return excluded_after >= 0 && verdict.value("cause", "") == "ssh_refused";
      },
      seconds(45));
  double refused_after = Since(stopped);
  g_lab->SignalProbe(kAhead, SIGCONT);
  EXPECT_TRUE(refused) << verdict.dump(1);
  std::printf(
      "[ hung ] %s (stopped) excluded after %.1f s (stale window %.1f s), t1 "
      "ssh_refused after %.1f s\n",
      kAhead, excluded_after, 3 * 1.0 + 0.6, refused_after);
  // Counted within the window plus a few evaluations, never for minutes.
  EXPECT_LT(excluded_after, 15) << verdict.dump(1);
}

}  // namespace
}  // namespace parallax::testing
