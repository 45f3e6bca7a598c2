// Printable: turns bytes a remote server sent into text that is safe to log,
// store and put into protobuf `string` fields (which must be valid UTF-8 or
// the whole message fails to parse on the collector).
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parallax::probe {

// Returns `bytes` as valid UTF-8: printable ASCII and well-formed multi-byte
// UTF-8 sequences are kept; tab, CR and LF become "\t", "\r", "\n"; a
// backslash becomes "\\"; every other byte (control bytes, DEL, invalid UTF-8)
// becomes "\xNN". If the result would exceed `max_bytes`, it is cut at a
// character boundary and "..." is appended (the result is then at most
// `max_bytes` + 3 bytes).
std::string Printable(std::string_view bytes, size_t max_bytes = 200);

// Like Printable(), but keeps the text unchanged when it is already valid
// UTF-8 without control bytes (other than tab), so that ordinary lines stay
// byte-identical; cuts at `max_bytes` (at a character boundary, no "...").
std::string PrintableLine(std::string_view bytes, size_t max_bytes);

}  // namespace parallax::probe
