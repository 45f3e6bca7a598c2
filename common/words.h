// The stable words for Outcome and Cause (see proto/parallax/v1/outcome.proto):
// "ok", "refused", ..., used in metrics labels, CLI output and JSON.
// Pure functions, thread-safe.
#pragma once

#include <string_view>

#include "parallax/v1/outcome.pb.h"
#include "parallax/v1/query.pb.h"

namespace parallax {

// "ok", "refused", "timeout", ...; "unspecified" for OUTCOME_UNSPECIFIED.
std::string_view OutcomeWord(v1::Outcome o);
// Inverse of OutcomeWord; false if `word` is not one of them.
bool ParseOutcomeWord(std::string_view word, v1::Outcome* out);

// "ok", "ssh_refused", "firewall_block", ...
std::string_view CauseWord(v1::Cause c);
bool ParseCauseWord(std::string_view word, v1::Cause* out);

// The evidence roles (proto/parallax/v1/query.proto Role): "agrees",
// "agrees (reaches it)", "agrees (blocked)", "disagrees", "reaches it",
// "set aside: its network blocks SSH", "excluded: stale",
// "excluded: unhealthy probe"; "unspecified" for ROLE_UNSPECIFIED.
std::string_view RoleWord(v1::Role r);
bool ParseRoleWord(std::string_view word, v1::Role* out);

}  // namespace parallax
