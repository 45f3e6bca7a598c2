// Escaping of untrusted text (banners, probe labels, details, names) before a
// terminal, a log line or a /metrics label value sees it.
//
// EscapeForTerminal keeps printable text (ASCII and valid UTF-8) as it is and
// writes everything a terminal could act on as visible escapes:
//   - C0 controls and DEL: \t \n \r as such, others as \xNN (ESC -> \x1b);
//   - C1 controls U+0080..U+009F (UTF-8 encoded): \u009b;
//   - bidi and direction marks U+202A..U+202E, U+2066..U+2069, U+200E,
//     U+200F, U+061C: \u202e;
//   - bytes that are not valid UTF-8 (raw \x80..\xff, overlongs, surrogates,
//     truncated sequences): \xNN.
// A backslash is kept as it is: text that already reads "\x1b" (the probe
// escapes server bytes the same way, probe/checks/printable.h) is inert and
// stays readable instead of doubling.
// The result is valid UTF-8 with no control or bidi character.
//
// SanitizeUtf8 only replaces invalid UTF-8 bytes by "\xNN" text (for JSON,
// which escapes the rest itself when dumped ASCII-only).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace parallax {

std::string EscapeForTerminal(std::string_view in);
std::string SanitizeUtf8(std::string_view in);
// True if EscapeForTerminal(in) == in: no control, C1, bidi or invalid byte.
bool IsSafeText(std::string_view in);

}  // namespace parallax
