#include "probe/checks/printable.h"

#include <cstdint>
#include <cstdio>

namespace parallax::probe {
namespace {

// Length of the well-formed UTF-8 sequence starting at bytes[i] (>= 0x80),
// or 0 if it is not one (overlong forms, surrogates and > U+10FFFF rejected).
size_t Utf8SequenceLength(std::string_view bytes, size_t i) {
  auto at = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
  uint8_t b = at(i);
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return len;
}

// Appends the printable form of the character at bytes[i]; returns its length.
size_t AppendChar(std::string_view bytes, size_t i, bool escape_all, std::string* out) {
  uint8_t b = static_cast<uint8_t>(bytes[i]);
  if (b >= 0x80) {
    size_t len = Utf8SequenceLength(bytes, i);
    if (len > 0) {
      out->append(bytes.substr(i, len));
      return len;
    }
  } else if (b >= 0x20 && b < 0x7F) {
    if (b == '\\' && escape_all) {
      out->append("\\\\");
    } else {
      out->push_back(static_cast<char>(b));
    }
    return 1;
  } else if (b == '\t' && !escape_all) {
    out->push_back('\t');
    return 1;
  } else if (b == '\t' || b == '\r' || b == '\n') {
    out->append(b == '\t' ? "\\t" : b == '\r' ? "\\r" : "\\n");
    return 1;
  }
  char hex[8];
  std::snprintf(hex, sizeof(hex), "\\x%02x", b);
  out->append(hex);
  return 1;
}

std::string Convert(std::string_view bytes, size_t max_bytes, bool escape_all,
                    const char* ellipsis) {
  std::string out;
  out.reserve(bytes.size() < max_bytes ? bytes.size() : max_bytes);
  size_t i = 0;
  while (i < bytes.size()) {
    std::string piece;
    size_t used = AppendChar(bytes, i, escape_all, &piece);
    if (out.size() + piece.size() > max_bytes) {
      out.append(ellipsis);
      return out;
    }
    out.append(piece);
    i += used;
  }
  return out;
}

}  // namespace

std::string Printable(std::string_view bytes, size_t max_bytes) {
  return Convert(bytes, max_bytes, /*escape_all=*/true, "...");
}

std::string PrintableLine(std::string_view bytes, size_t max_bytes) {
  return Convert(bytes, max_bytes, /*escape_all=*/false, "");
}

}  // namespace parallax::probe
