#include "probe/policy/target_policy.h"

#include <gtest/gtest.h>

#include "probe/policy/policy_gate.h"

namespace parallax::probe {
namespace {

v1::Target T(const std::string& name, const std::string& host, uint32_t port = 22,
             uint32_t interval_ms = 10000) {
  v1::Target t;
  t.set_name(name);
  t.set_host(host);
  t.set_port(port);
  t.set_interval_ms(interval_ms);
  t.set_timeout_ms(500);
  return t;
}

std::vector<std::string> Names(const v1::Assignment& a) {
  std::vector<std::string> out;
  for (const v1::Target& t : a.targets()) out.push_back(t.name());
  return out;
}

TEST(TargetPolicy, DefaultRefusesLoopbackLinkLocalMulticastItemByItem) {
  TargetPolicyOptions o;
  o.own_addresses = [] { return std::vector<std::string>{}; };
  TargetPolicy policy(o);
  v1::Assignment a;
  a.set_generation(7);
  for (const v1::Target& t :
       {T("good", "192.0.2.10"), T("lo", "127.0.0.1"), T("lo6", "::1"),
        T("meta", "169.254.169.254", 80), T("ll6", "fe80::1"), T("mc", "224.0.0.1"),
        T("name", "ssh.example.net"), T("localname", "localhost"), T("mapped", "::ffff:127.0.0.1"),
        T("good6", "2001:db8::7")}) {
    *a.add_targets() = t;
  }
  std::vector<v1::PolicyRefusal> refused;
  v1::Assignment out = policy.Filter(a, &refused);
  EXPECT_EQ(out.generation(), 7u);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"good", "name", "good6"}));
  ASSERT_EQ(refused.size(), 7u);
  EXPECT_EQ(refused[0].target(), "lo");
  EXPECT_NE(refused[0].reason().find("127.0.0.1 is loopback (allow with --allow-loopback)"),
            std::string::npos)
      << refused[0].reason();
  EXPECT_NE(refused[2].reason().find("cloud metadata"), std::string::npos) << refused[2].reason();
  EXPECT_NE(refused[4].reason().find("multicast"), std::string::npos);
}

TEST(TargetPolicy, AllowLoopbackAndAllowList) {
  TargetPolicyOptions o;
  o.allow_loopback = true;
  std::vector<v1::PolicyRefusal> refused;
  EXPECT_EQ(TargetPolicy(o).AddressRefusal("127.0.0.1", {}), "");
  EXPECT_NE(TargetPolicy(o).AddressRefusal("169.254.169.254", {}), "");
  Cidr lab;
  ASSERT_TRUE(ParseCidr("10.0.0.0/8", &lab).ok());
  o.allow = {lab};
  TargetPolicy p(o);
  EXPECT_EQ(p.AddressRefusal("10.1.2.3", {}), "");
  EXPECT_EQ(p.AddressRefusal("127.0.0.1", {}), "");
  EXPECT_NE(p.AddressRefusal("192.0.2.1", {})
                .find("outside the allowed networks (--allow-target 10.0.0.0/8)"),
            std::string::npos);
  Cidr bad;
  EXPECT_FALSE(ParseCidr("10.0.0.0/33", &bad).ok());
  EXPECT_FALSE(ParseCidr("nonsense", &bad).ok());
}

TEST(TargetPolicy, OwnAddressesAreRefused) {
  TargetPolicy policy{TargetPolicyOptions()};
  EXPECT_NE(policy.AddressRefusal("192.0.2.9", {"192.0.2.9", "fe80::1"}).find("own address"),
            std::string::npos);
  EXPECT_EQ(policy.AddressRefusal("192.0.2.10", {"192.0.2.9"}), "");
}

TEST(TargetPolicy, IntervalPortsCountAndRate) {
  TargetPolicyOptions o;
  o.own_addresses = [] { return std::vector<std::string>{}; };
  o.max_targets = 3;
  o.max_connects_per_second = 2.5;
  PortRange r;
  ASSERT_TRUE(ParsePortRange("22", &r).ok());
  o.ports = {r};
  TargetPolicy policy(o);
  v1::Assignment a;
  *a.add_targets() = T("fast", "192.0.2.1", 22, 100);  // 100 ms: below 1 s
  *a.add_targets() = T("smtp", "192.0.2.1", 25);       // port not allowed
  *a.add_targets() = T("a", "192.0.2.1", 22, 1000);    // 1/s
  *a.add_targets() = T("b", "192.0.2.2", 22, 1000);    // 2/s
  *a.add_targets() = T("c", "192.0.2.3", 22, 1000);    // 3/s > 2.5: rate
  *a.add_targets() = T("d", "192.0.2.4", 22, 10000);   // 2.1/s
  *a.add_targets() = T("e", "192.0.2.5", 22, 10000);   // 4th target: count
  std::vector<v1::PolicyRefusal> refused;
  v1::Assignment out = policy.Filter(a, &refused);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"a", "b", "d"}))
      << refused[2].reason() << refused[3].reason();
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_NE(refused[0].reason().find("interval 100ms is below the minimum 1000ms"),
            std::string::npos)
      << refused[0].reason();
  EXPECT_NE(refused[1].reason().find("port 25"), std::string::npos) << refused[1].reason();
  EXPECT_NE(refused[2].reason().find("new connections per second"), std::string::npos);
  EXPECT_NE(refused[3].reason().find("more than 3 targets"), std::string::npos);
}

TEST(PolicyGate, ReportsRefusalsInHeartbeats) {
  TargetPolicyOptions o;
  o.own_addresses = [] { return std::vector<std::string>{}; };
  PolicyGate gate{TargetPolicy(o)};
  EXPECT_FALSE(gate.TakeReportDue());
  v1::Assignment a;
  a.set_generation(3);
  for (int i = 0; i < 150; ++i) *a.add_targets() = T("lo" + std::to_string(i), "127.0.0.1");
  *a.add_targets() = T("ok", "192.0.2.1");
  v1::Assignment out = gate.Apply(a);
  EXPECT_EQ(out.targets_size(), 1);
  EXPECT_TRUE(gate.TakeReportDue());
  EXPECT_FALSE(gate.TakeReportDue());
  v1::Heartbeat hb;
  gate.FillHeartbeat(&hb);
  EXPECT_EQ(hb.policy_refused(), 150u);
  EXPECT_EQ(hb.policy_refusals_size(), PolicyGate::kMaxReported);
  EXPECT_EQ(hb.policy_generation(), 3u);
}

TEST(PolicyGate, AdHocChecksObeyAddressAndPortRulesOnly) {
  TargetPolicyOptions o;
  o.own_addresses = [] { return std::vector<std::string>{}; };
  o.min_interval = std::chrono::milliseconds(60000);
  o.ports = {{22, 22}};
  PolicyGate gate{TargetPolicy(o)};
  // A short interval is no reason to refuse a single check...
  EXPECT_EQ(gate.AdHocRefusal(T("h", "192.0.2.1", 22, 100)), "");
  // ... the address and port rules are.
  std::string why = gate.AdHocRefusal(T("lo", "127.0.0.1", 22));
  EXPECT_NE(why.find("127.0.0.1 is loopback"), std::string::npos) << why;
  why = gate.AdHocRefusal(T("p", "192.0.2.1", 2222));
  EXPECT_NE(why.find("port 2222 is outside the allowed ports"), std::string::npos) << why;
  // The assignment's refusals are untouched.
  EXPECT_FALSE(gate.TakeReportDue());
  v1::Heartbeat hb;
  gate.FillHeartbeat(&hb);
  EXPECT_EQ(hb.policy_refused(), 0u);
}

TEST(PolicyGate, FlagsAreValidated) {
  TargetPolicyFlags f;
  TargetPolicyOptions o;
  EXPECT_TRUE(MakeTargetPolicyOptions(f, &o).ok());
  EXPECT_EQ(o.min_interval.count(), 1000);
  f.allow_target = {"10.0.0.0/99"};
  Status st = MakeTargetPolicyOptions(f, &o);
  EXPECT_NE(st.message().find("--allow-target"), std::string::npos) << st.message();
  f.allow_target.clear();
  f.allow_port = {"30-20"};
  EXPECT_NE(MakeTargetPolicyOptions(f, &o).message().find("--allow-port"), std::string::npos);
  f.allow_port.clear();
  f.min_interval = "soon";
  EXPECT_NE(MakeTargetPolicyOptions(f, &o).message().find("--min-interval"), std::string::npos);
}

}  // namespace
}  // namespace parallax::probe
