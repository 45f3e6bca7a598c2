// Escapes every string field of a protobuf message in place (recursively,
// including repeated fields and map keys/values), for rendering untrusted
// answers: EscapeForTerminal for text views, SanitizeUtf8 for JSON.
// Thread-compatible (mutates the message).
#pragma once

#include <google/protobuf/message.h>

namespace parallax {

enum class EscapeMode { kTerminal, kUtf8Only };

void EscapeMessageStrings(google::protobuf::Message* msg, EscapeMode mode);

}  // namespace parallax
