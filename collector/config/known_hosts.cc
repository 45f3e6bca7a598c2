#include "collector/config/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace parallax::collector {
namespace {

std::string Base64Decode(std::string_view in, bool* ok) {
  *ok = false;
  if (in.empty() || in.size() % 4 != 0 || in.size() > 16384) return "";
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return "";
  size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  *ok = true;
  return out;
}

std::string Fingerprint(std::string_view blob) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), digest);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, digest, sizeof digest);
  std::string out(reinterpret_cast<char*>(b64), n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return "SHA256:" + out;
}

// Glob match with '*' and '?' (iterative, bounded by the lengths).
bool Glob(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool HashedMatch(std::string_view pattern, const std::string& name) {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  std::string_view rest = pattern.substr(3);
  size_t bar = rest.find('|');
  if (bar == std::string_view::npos) return false;
  bool ok1 = false, ok2 = false;
  std::string salt = Base64Decode(rest.substr(0, bar), &ok1);
  std::string hash = Base64Decode(rest.substr(bar + 1), &ok2);
  if (!ok1 || !ok2 || hash.size() != 20) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &len);
  return len == 20 && std::equal(hash.begin(), hash.end(), reinterpret_cast<char*>(mac));
}

bool HostsMatch(std::string_view field, const std::string& name) {
  if (field.substr(0, 3) == "|1|") return HashedMatch(field, name);
  bool matched = false;
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    if (comma == std::string_view::npos) comma = field.size();
    std::string_view p = field.substr(start, comma - start);
    start = comma + 1;
    bool negate = !p.empty() && p[0] == '!';
    if (negate) p.remove_prefix(1);
    if (p.empty() || !Glob(p, name)) continue;
    if (negate) return false;
    matched = true;
  }
  return matched;
}

}  // namespace

bool IsSshFingerprint(std::string_view s) {
  if (s.size() != 7 + 43 || s.substr(0, 7) != "SHA256:") return false;
  for (char c : s.substr(7)) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '/')) {
      return false;
    }
  }
  return true;
}

KnownHosts ParseKnownHosts(std::string_view text) {
  KnownHosts out;
  text = text.substr(0, kMaxKnownHostsBytes);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    std::replace(line.begin(), line.end(), '\t', ' ');
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream in(line);
    std::string first;
    if (!(in >> first) || first[0] == '#') continue;
    if (first[0] == '@') {
      if (first != "@revoked" && first != "@cert-authority") ++out.skipped;
      continue;
    }
    std::string type, b64;
    if (!(in >> type >> b64)) {
      ++out.skipped;
      continue;
    }
    bool ok = false;
    std::string blob = Base64Decode(b64, &ok);
    // The blob starts with its own type name as an SSH string.
    if (!ok || blob.size() < 4 + type.size() || blob.compare(4, type.size(), type) != 0) {
      ++out.skipped;
      continue;
    }
    out.entries.push_back({first, Fingerprint(blob)});
  }
  return out;
}

Status LoadKnownHosts(const std::string& path, KnownHosts* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read known_hosts file \"" + path + "\"");
  std::string text(kMaxKnownHostsBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxKnownHostsBytes) {
    return Status::InvalidArgument("known_hosts file \"" + path + "\" is larger than " +
                                   std::to_string(kMaxKnownHostsBytes) + " bytes");
  }
  *out = ParseKnownHosts(text);
  return Status::Ok();
}

std::vector<std::string> KnownHostKeys(const KnownHosts& known, const std::string& host,
                                       uint16_t port) {
  std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::vector<std::string> out;
  for (const auto& e : known.entries) {
    if (!HostsMatch(e.hosts, name)) continue;
    if (std::find(out.begin(), out.end(), e.fingerprint) == out.end()) out.push_back(e.fingerprint);
  }
  return out;
}

}  // namespace parallax::collector
