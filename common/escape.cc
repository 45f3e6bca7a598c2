#include "common/escape.h"

#include <cstdint>
#include <cstdio>

namespace parallax {
namespace {

// Decodes one UTF-8 sequence at in[i]; returns its length (0 if invalid) and
// the code point in *cp. Rejects overlongs, surrogates and > U+10FFFF.
size_t DecodeUtf8(std::string_view in, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(in[k]); };
  uint8_t c = b(i);
  size_t len;
  uint32_t v;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > in.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

bool Dangerous(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F || cp == 0x061C;
}

void AppendHexByte(std::string* out, uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02x", b);
  *out += buf;
}

}  // namespace

std::string EscapeForTerminal(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(in, i, &cp);
    if (len == 0) {
      AppendHexByte(&out, static_cast<uint8_t>(in[i]));
      ++i;
      continue;
    }
    if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x80 && Dangerous(cp)) {
      AppendHexByte(&out, static_cast<uint8_t>(cp));
    } else if (Dangerous(cp)) {
      char buf[12];
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      out += buf;
    } else {
      out.append(in.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(in, i, &cp);
    if (len == 0) {
      AppendHexByte(&out, static_cast<uint8_t>(in[i]));
      ++i;
    } else {
      out.append(in.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool IsSafeText(std::string_view in) {
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(in, i, &cp);
    if (len == 0 || Dangerous(cp)) return false;
    i += len;
  }
  return true;
}

}  // namespace parallax
