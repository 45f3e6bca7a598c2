#include "common/words.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace parallax {
namespace {

TEST(WordsTest, EveryOutcomeHasAUniqueWordThatRoundTrips) {
  std::set<std::string_view> seen;
  for (int i = v1::Outcome_MIN + 1; i <= v1::Outcome_MAX; ++i) {
    auto o = static_cast<v1::Outcome>(i);
    std::string_view w = OutcomeWord(o);
    EXPECT_NE(w, "unspecified") << i;
    EXPECT_TRUE(seen.insert(w).second) << w;
    v1::Outcome back{};
    ASSERT_TRUE(ParseOutcomeWord(w, &back)) << w;
    EXPECT_EQ(back, o);
  }
  v1::Outcome o{};
  EXPECT_FALSE(ParseOutcomeWord("bogus", &o));
  EXPECT_FALSE(ParseOutcomeWord("unspecified", &o));
}

TEST(WordsTest, EveryCauseHasAUniqueWordThatRoundTrips) {
  std::set<std::string_view> seen;
  for (int i = v1::Cause_MIN + 1; i <= v1::Cause_MAX; ++i) {
    if (!v1::Cause_IsValid(i)) continue;  // numbers assigned to other branches
    auto c = static_cast<v1::Cause>(i);
    std::string_view w = CauseWord(c);
    EXPECT_NE(w, "unspecified") << i;
    EXPECT_TRUE(seen.insert(w).second) << w;
    v1::Cause back{};
    ASSERT_TRUE(ParseCauseWord(w, &back)) << w;
    EXPECT_EQ(back, c);
  }
  EXPECT_EQ(CauseWord(v1::CAUSE_FIREWALL_BLOCK), "firewall_block");
  EXPECT_EQ(CauseWord(v1::CAUSE_SSH_MOVED), "ssh_moved");
  EXPECT_EQ(CauseWord(v1::CAUSE_HOSTKEY_CHANGED), "hostkey_changed");
  EXPECT_EQ(CauseWord(v1::CAUSE_HOSTKEY_MISMATCH), "hostkey_mismatch");
  EXPECT_EQ(CauseWord(v1::CAUSE_DNS_MISMATCH), "dns_mismatch");
  EXPECT_EQ(CauseWord(v1::CAUSE_PROBES_BANNED), "probes_banned");
  EXPECT_EQ(OutcomeWord(v1::OUTCOME_BANNER_TIMEOUT), "banner_timeout");
}

TEST(WordsTest, EveryRoleHasItsStableWordThatRoundTrips) {
  // Users' scripts match these exact strings (EvidenceItem.role, JSON).
  const std::vector<std::pair<v1::Role, std::string_view>> want = {
      {v1::ROLE_AGREES, "agrees"},
      {v1::ROLE_AGREES_REACHES_IT, "agrees (reaches it)"},
      {v1::ROLE_AGREES_BLOCKED, "agrees (blocked)"},
      {v1::ROLE_DISAGREES, "disagrees"},
      {v1::ROLE_REACHES_IT, "reaches it"},
      {v1::ROLE_SET_ASIDE, "set aside: its network blocks SSH"},
      {v1::ROLE_EXCLUDED_STALE, "excluded: stale"},
      {v1::ROLE_EXCLUDED_UNHEALTHY, "excluded: unhealthy probe"},
      {v1::ROLE_EXCLUDED_PROBE_ERROR, "excluded: probe error"},
  };
  EXPECT_EQ(want.size(), static_cast<size_t>(v1::Role_MAX));
  for (const auto& [role, word] : want) {
    EXPECT_EQ(RoleWord(role), word);
    v1::Role back{};
    ASSERT_TRUE(ParseRoleWord(word, &back)) << word;
    EXPECT_EQ(back, role);
  }
  v1::Role r{};
  EXPECT_FALSE(ParseRoleWord("agrees(blocked)", &r));
  EXPECT_FALSE(ParseRoleWord("unspecified", &r));
}

}  // namespace
}  // namespace parallax
