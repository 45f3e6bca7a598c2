#include "collector/enroll/token_command.h"

#include <unistd.h>

#include <ctime>

#include "collector/enroll/token_store.h"
#include "common/cert_fingerprint.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/tls.h"

namespace parallax::collector {
namespace {

// The HOST:PORT probes use: enroll.address, or listen with a wildcard host
// replaced by this machine's name.
std::string ProbeAddress(const EnrollConfig& e) {
  std::string a = e.address;
  size_t colon = a.rfind(':');
  if (colon == std::string::npos) return a;
  std::string host = a.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) == 0 && buf[0] != '\0') host = buf;
    return host + a.substr(colon);
  }
  return a;
}

std::string IsoTime(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int RunTokenCreate(const Config& config, const std::string& config_path, const std::string& name,
                   const std::string& ttl_text, std::FILE* out, std::FILE* err) {
  if (!config.enroll.enabled()) {
    std::fprintf(err,
                 "parallax-collector: enrollment is off: set enroll.ca_key in %s "
                 "(docs/CONFIG.md, enroll)\n",
                 config_path.c_str());
    return 2;
  }
  std::chrono::milliseconds ttl{};
  Status st = ParseDuration(ttl_text, &ttl);
  if (!st.ok() || ttl < std::chrono::seconds(1) || ttl > kMaxTokenTtl) {
    std::fprintf(err, "parallax-collector: --ttl \"%s\": %s\n", ttl_text.c_str(),
                 st.ok() ? "must be between 1s and 7d" : st.message().c_str());
    return 2;
  }
  std::string ca_pem, fingerprint;
  st = ReadFileToString(config.enroll.ca_cert, "enroll.ca_cert", &ca_pem);
  if (st.ok()) st = FingerprintOfPem(ca_pem, &fingerprint);
  if (!st.ok()) {
    std::fprintf(err, "parallax-collector: enroll.ca_cert \"%s\": %s\n",
                 config.enroll.ca_cert.c_str(), st.message().c_str());
    return 2;
  }
  TokenStore store(config.enroll.tokens, WallClockMs);
  std::string token;
  TokenRecord record;
  st = store.Create(name, ttl, &token, &record);
  if (!st.ok()) {
    std::fprintf(err, "parallax-collector: token create: %s\n", st.message().c_str());
    return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  std::fprintf(out,
               "token: %s\n"
               "name: %s\n"
               "expires: %s (single use; only its SHA-256 is stored, in %s)\n"
               "ca_fingerprint: %s\n"
               "Run at the new site:\n"
               "  parallax-probe enroll --collector %s --token %s --name %s --ca-fingerprint %s\n",
               token.c_str(), name.c_str(), IsoTime(record.expires_ms).c_str(),
               config.enroll.tokens.c_str(), fingerprint.c_str(),
               ProbeAddress(config.enroll).c_str(), token.c_str(), name.c_str(),
               fingerprint.c_str());
  return 0;
}

}  // namespace parallax::collector
