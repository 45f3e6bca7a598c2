// TokenStore: the one-time enrollment tokens of `parallax-collector token
// create`, kept in a small text file (enroll.tokens, mode 0600) so they
// survive restarts and are shared by the running collector and the `token
// create` command (another process).
//
// A token is 256 random bits spelled as 64 hex digits. The file holds only
// its SHA-256, the probe name it was issued for, its expiry and when it was
// used, one record a line:
//   <sha256 hex> <name> <created_ms> <expires_ms> <used_ms or 0>
// Records are dropped a week after they expire.
//
// Concurrency: every operation takes an exclusive flock() on "<file>.lock",
// reads the file, and replaces it atomically (write "<file>.tmp", fsync,
// rename), so a `token create` while the collector runs, or two enrollments
// at once, never lose an update. The collector re-reads the file on every
// Consume (enrollment is rare).
//
// Thread-safe (the lock is per process and file; a mutex serializes this
// object's threads, flock the processes).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace parallax::collector {

// Why a token was refused (Consume), for the gRPC status and the tests.
enum class TokenRefusal { kNone, kMalformed, kUnknown, kUsed, kExpired, kWrongName, kStorage };

struct TokenRecord {
  std::string hash;  // SHA-256 of the token text, 64 lower-case hex digits
  std::string name;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  int64_t used_ms = 0;  // 0: not used yet
};

inline constexpr auto kMaxTokenTtl = std::chrono::hours(24 * 7);
inline constexpr size_t kMaxLiveTokens = 10000;

class TokenStore {
 public:
  TokenStore(std::string path, std::function<int64_t()> now_ms);

  // Issues a token for probe `name`, valid for `ttl` (1 s .. 7 days).
  Status Create(const std::string& name, std::chrono::milliseconds ttl, std::string* token,
                TokenRecord* record = nullptr);
  // Marks `token` used if it was issued for `name`, is unused and unexpired;
  // otherwise refuses with a message ("token already used", "token expired",
  // ...) and *why. A refused token is not consumed.
  Status Consume(const std::string& token, const std::string& name, TokenRefusal* why = nullptr);
  // Every record (for tests and listing).
  Status List(std::vector<TokenRecord>* out);

  const std::string& path() const { return path_; }

  // SHA-256 of a token text as 64 lower-case hex digits.
  static std::string Hash(const std::string& token);

 private:
  Status Load(std::vector<TokenRecord>* out) const;
  Status Save(const std::vector<TokenRecord>& records) const;

  std::string path_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
};

// 1..64 of [A-Za-z0-9._-]: the probe name rule (config probes:, Hello).
bool EnrollNameOk(const std::string& name);

}  // namespace parallax::collector
