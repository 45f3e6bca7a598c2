// Escapes every string field of a protobuf message in place (recursively,
// including repeated fields and map keys/values), for rendering untrusted
// answers: EscapeForTerminal for text views, SanitizeUtf8 for JSON.
// Thread-compatible (mutates the message).
#pragma once

#include <google/protobuf/message.h>

namespace parallax {

enum class EscapeMode { kTerminal, kUtf8Only };

void EscapeMessageStrings(google::protobuf::Message* msg, EscapeMode mode);

// A copy of `in` with every string escaped for a terminal (or an HTML page,
// which escapes again for its own syntax).
template <typename M>
M TerminalSafeCopy(const M& in) {
  M out = in;
  EscapeMessageStrings(&out, EscapeMode::kTerminal);
  return out;
}

}  // namespace parallax
