#include "collector/ingest/validate.h"

#include <string>

#include "common/escape.h"

namespace parallax::collector {
namespace {

bool NameChar(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || (allow_colon && c == ':');
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out + (s.size() > 80 ? "...\"" : "\"");
}

Status CheckName(const std::string& field, const std::string& value, size_t max, bool allow_colon) {
  if (value.empty() || value.size() > max) {
    return Status::InvalidArgument(field + ": " + Quote(value) + " must be 1.." +
                                   std::to_string(max) + " characters");
  }
  for (char c : value) {
    if (!NameChar(c, allow_colon)) {
      return Status::InvalidArgument(field + ": " + Quote(value) +
                                     " may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

// A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*, and not "__..." (reserved
// for Prometheus' internal labels), at most kMaxLabelKeyBytes.
Status CheckLabelKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxLabelKeyBytes) {
    return Status::InvalidArgument("hello.labels key " + Quote(key) + ": must be 1.." +
                                   std::to_string(kMaxLabelKeyBytes) + " bytes");
  }
  bool ok = !(key[0] >= '0' && key[0] <= '9') && key.rfind("__", 0) != 0;
  for (char c : key) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!ok) {
    return Status::InvalidArgument(
        "hello.labels key " + Quote(key) +
        ": must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with \"__\")");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateHello(const v1::Hello& hello) {
  Status st = CheckName("hello.probe_name", hello.probe_name(), 64, false);
  if (!st.ok()) return st;
  if (hello.boot_id().empty() || hello.boot_id().size() > 64) {
    return Status::InvalidArgument("hello.boot_id: " + Quote(hello.boot_id()) +
                                   " must be 1..64 characters");
  }
  if (hello.labels_size() > kMaxLabels) {
    return Status::InvalidArgument("hello.labels: " + std::to_string(hello.labels_size()) +
                                   " labels, at most " + std::to_string(kMaxLabels) + " allowed");
  }
  for (const auto& [key, value] : hello.labels()) {
    st = CheckLabelKey(key);
    if (!st.ok()) return st;
    if (value.size() > kMaxLabelValueBytes) {
      return Status::InvalidArgument("hello.labels[" + key + "]: value of " +
                                     std::to_string(value.size()) + " bytes, at most " +
                                     std::to_string(kMaxLabelValueBytes));
    }
    if (!IsSafeText(value)) {
      return Status::InvalidArgument("hello.labels[" + key + "]: value \"" +
                                     EscapeForTerminal(value) +
                                     "\" contains control or bidi characters or invalid UTF-8");
    }
  }
  if (hello.version().size() > 64) {
    return Status::InvalidArgument("hello.version: " + Quote(hello.version()) + " is too long");
  }
  return Status::Ok();
}

Status ValidateResult(const v1::CheckResult& r, int index) {
  std::string at = "results[" + std::to_string(index) + "]";
  if (r.seq() == 0) return Status::InvalidArgument(at + ".seq: 0 (sequence numbers start at 1)");
  Status st = CheckName(at + ".target", r.target(), 128, true);
  if (!st.ok()) return st;
  if (!v1::Outcome_IsValid(r.outcome()) || r.outcome() == v1::OUTCOME_UNSPECIFIED) {
    return Status::InvalidArgument(at + ".outcome: " + std::to_string(r.outcome()) +
                                   " is not a known outcome");
  }
  if (r.identification().size() > 255) {
    return Status::InvalidArgument(at +
                                   ".identification: " + std::to_string(r.identification().size()) +
                                   " bytes, at most 255 (RFC 4253)");
  }
  if (r.pre_banner_size() > 64 || r.detail().size() > 4096 || r.address().size() > 128) {
    return Status::InvalidArgument(at + ": pre_banner, detail or address too large");
  }
  // Bounded in bytes too (a probe keeps at most 4 KiB of pre-banner text).
  size_t pre_banner_bytes = 0;
  for (const std::string& line : r.pre_banner()) pre_banner_bytes += line.size();
  if (pre_banner_bytes > 16384) {
    return Status::InvalidArgument(at + ".pre_banner: " + std::to_string(pre_banner_bytes) +
                                   " bytes, at most 16384");
  }
  if (r.liveness().ports_size() > 64 || r.liveness().icmp_error().size() > 256) {
    return Status::InvalidArgument(at + ".liveness: " + std::to_string(r.liveness().ports_size()) +
                                   " ports (at most 64) or icmp_error longer than 256 bytes");
  }
  return Status::Ok();
}

}  // namespace parallax::collector
