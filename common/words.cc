#include "common/words.h"

#include <array>
#include <utility>

namespace parallax {
namespace {

constexpr std::array<std::pair<v1::Outcome, std::string_view>, 12> kOutcomes{{
    {v1::OUTCOME_UNSPECIFIED, "unspecified"},
    {v1::OUTCOME_OK, "ok"},
    {v1::OUTCOME_REFUSED, "refused"},
    {v1::OUTCOME_TIMEOUT, "timeout"},
    {v1::OUTCOME_HOST_UNREACHABLE, "host_unreachable"},
    {v1::OUTCOME_NETWORK_UNREACHABLE, "network_unreachable"},
    {v1::OUTCOME_RESET, "reset"},
    {v1::OUTCOME_CLOSED, "closed"},
    {v1::OUTCOME_BANNER_TIMEOUT, "banner_timeout"},
    {v1::OUTCOME_NOT_SSH, "not_ssh"},
    {v1::OUTCOME_DNS_ERROR, "dns_error"},
    {v1::OUTCOME_PROBE_ERROR, "probe_error"},
}};

constexpr std::array<std::pair<v1::Cause, std::string_view>, 17> kCauses{{
    {v1::CAUSE_UNSPECIFIED, "unspecified"},
    {v1::CAUSE_OK, "ok"},
    {v1::CAUSE_SSH_REFUSED, "ssh_refused"},
    {v1::CAUSE_FIREWALL_BLOCK, "firewall_block"},
    {v1::CAUSE_HOST_OFFLINE, "host_offline"},
    {v1::CAUSE_ISP_BLOCK, "isp_block"},
    {v1::CAUSE_SOURCE_BLOCK, "source_block"},
    {v1::CAUSE_SSH_UNRESPONSIVE, "ssh_unresponsive"},
    {v1::CAUSE_NOT_SSH, "not_ssh"},
    {v1::CAUSE_DNS_ERROR, "dns_error"},
    {v1::CAUSE_PARTIAL, "partial"},
    {v1::CAUSE_UNKNOWN, "unknown"},
    {v1::CAUSE_SSH_MOVED, "ssh_moved"},
    {v1::CAUSE_HOSTKEY_CHANGED, "hostkey_changed"},
    {v1::CAUSE_HOSTKEY_MISMATCH, "hostkey_mismatch"},
    {v1::CAUSE_DNS_MISMATCH, "dns_mismatch"},
    {v1::CAUSE_PROBES_BANNED, "probes_banned"},
}};

template <typename Enum, size_t N>
std::string_view Lookup(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum e) {
  for (const auto& [value, word] : table) {
    if (value == e) return word;
  }
  return "unspecified";
}

template <typename Enum, size_t N>
bool Reverse(const std::array<std::pair<Enum, std::string_view>, N>& table, std::string_view word,
             Enum* out) {
  for (const auto& [value, w] : table) {
    if (w == word && value != Enum{}) {
      *out = value;
      return true;
    }
  }
  return false;
}

constexpr std::array<std::pair<v1::Role, std::string_view>, 10> kRoles{{
    {v1::ROLE_UNSPECIFIED, "unspecified"},
    {v1::ROLE_AGREES, "agrees"},
    {v1::ROLE_AGREES_REACHES_IT, "agrees (reaches it)"},
    {v1::ROLE_AGREES_BLOCKED, "agrees (blocked)"},
    {v1::ROLE_DISAGREES, "disagrees"},
    {v1::ROLE_REACHES_IT, "reaches it"},
    {v1::ROLE_SET_ASIDE, "set aside: its network blocks SSH"},
    {v1::ROLE_EXCLUDED_STALE, "excluded: stale"},
    {v1::ROLE_EXCLUDED_UNHEALTHY, "excluded: unhealthy probe"},
    {v1::ROLE_EXCLUDED_PROBE_ERROR, "excluded: probe error"},
}};

}  // namespace

std::string_view OutcomeWord(v1::Outcome o) { return Lookup(kOutcomes, o); }
bool ParseOutcomeWord(std::string_view word, v1::Outcome* out) {
  return Reverse(kOutcomes, word, out);
}
std::string_view CauseWord(v1::Cause c) { return Lookup(kCauses, c); }
bool ParseCauseWord(std::string_view word, v1::Cause* out) { return Reverse(kCauses, word, out); }
std::string_view RoleWord(v1::Role r) { return Lookup(kRoles, r); }
bool ParseRoleWord(std::string_view word, v1::Role* out) { return Reverse(kRoles, word, out); }

}  // namespace parallax
