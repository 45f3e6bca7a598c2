#include "collector/enroll/token_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace parallax::collector {
namespace {

constexpr size_t kMaxFileBytes = 4 << 20;
constexpr int64_t kKeepAfterExpiryMs = 7LL * 24 * 3600 * 1000;

std::string Hex(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

bool IsHex(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " \"" + path + "\": " + std::strerror(errno);
}

// An exclusive flock on "<path>.lock", released by the destructor.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : path_(path + ".lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      error_ = Errno("enroll.tokens: cannot open the lock file", path_);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      error_ = Errno("enroll.tokens: cannot lock", path_);
      return;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }
  Status status() const { return error_.empty() ? Status::Ok() : Status::IoError(error_); }

 private:
  std::string path_;
  int fd_ = -1;
  std::string error_;
};

}  // namespace

bool EnrollNameOk(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

TokenStore::TokenStore(std::string path, std::function<int64_t()> now_ms)
    : path_(std::move(path)), now_ms_(std::move(now_ms)) {}

std::string TokenStore::Hash(const std::string& token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

Status TokenStore::Load(std::vector<TokenRecord>* out) const {
  out->clear();
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IoError(Errno("enroll.tokens: cannot read", path_));
  }
  std::string text;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::IoError(Errno("enroll.tokens: cannot read", path_));
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      ::close(fd);
      return Status::IoError("enroll.tokens: \"" + path_ + "\" is larger than 4 MiB");
    }
  }
  ::close(fd);
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    TokenRecord r;
    std::string extra;
    if (!(fields >> r.hash >> r.name >> r.created_ms >> r.expires_ms >> r.used_ms) ||
        (fields >> extra) || !IsHex(r.hash, 64) || !EnrollNameOk(r.name)) {
      return Status::IoError("enroll.tokens: \"" + path_ + "\" line " + std::to_string(line_no) +
                             " is damaged (expected: SHA256 NAME CREATED_MS EXPIRES_MS USED_MS)");
    }
    out->push_back(std::move(r));
  }
  return Status::Ok();
}

Status TokenStore::Save(const std::vector<TokenRecord>& records) const {
  std::string text =
      "# parallax-collector enrollment tokens: SHA-256 of each token (never the token), the\n"
      "# probe name, created, expires and used (ms since the epoch; 0 = unused).\n";
  for (const TokenRecord& r : records) {
    text += r.hash + " " + r.name + " " + std::to_string(r.created_ms) + " " +
            std::to_string(r.expires_ms) + " " + std::to_string(r.used_ms) + "\n";
  }
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError(Errno("enroll.tokens: cannot write", tmp));
  ::fchmod(fd, 0600);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status st = Status::IoError(Errno("enroll.tokens: cannot write", tmp));
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status st = Status::IoError(Errno("enroll.tokens: cannot sync", tmp));
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::IoError(Errno("enroll.tokens: cannot replace", path_));
  }
  return Status::Ok();
}

Status TokenStore::Create(const std::string& name, std::chrono::milliseconds ttl,
                          std::string* token, TokenRecord* record) {
  if (!EnrollNameOk(name)) {
    return Status::InvalidArgument("name \"" + name +
                                   "\" is not a probe name (1..64 of [A-Za-z0-9._-])");
  }
  if (ttl < std::chrono::seconds(1) || ttl > kMaxTokenTtl) {
    return Status::InvalidArgument("ttl must be between 1s and 7d");
  }
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return Status::Internal("no random bytes from OpenSSL (RAND_bytes failed)");
  }
  std::string text = Hex(random, sizeof(random));
  OPENSSL_cleanse(random, sizeof(random));

  std::lock_guard<std::mutex> guard(mu_);
  FileLock lock(path_);
  if (Status st = lock.status(); !st.ok()) return st;
  std::vector<TokenRecord> records;
  if (Status st = Load(&records); !st.ok()) return st;
  int64_t now = now_ms_();
  std::erase_if(records,
                [now](const TokenRecord& r) { return now > r.expires_ms + kKeepAfterExpiryMs; });
  size_t live = std::count_if(records.begin(), records.end(), [now](const TokenRecord& r) {
    return r.used_ms == 0 && now <= r.expires_ms;
  });
  if (live >= kMaxLiveTokens) {
    return Status::Unavailable("too many unused tokens (" + std::to_string(live) +
                               "); let some expire first");
  }
  TokenRecord r;
  r.hash = Hash(text);
  r.name = name;
  r.created_ms = now;
  r.expires_ms = now + ttl.count();
  records.push_back(r);
  if (Status st = Save(records); !st.ok()) return st;
  *token = std::move(text);
  if (record != nullptr) *record = r;
  return Status::Ok();
}

Status TokenStore::Consume(const std::string& token, const std::string& name, TokenRefusal* why) {
  TokenRefusal dummy;
  if (why == nullptr) why = &dummy;
  *why = TokenRefusal::kNone;
  if (!IsHex(token, 64)) {
    *why = TokenRefusal::kMalformed;
    return Status::InvalidArgument(
        "malformed token (expected the 64 hex digits `token create` "
        "printed)");
  }
  std::string hash = Hash(token);
  std::lock_guard<std::mutex> guard(mu_);
  FileLock lock(path_);
  std::vector<TokenRecord> records;
  Status st = lock.status();
  if (st.ok()) st = Load(&records);
  if (!st.ok()) {
    *why = TokenRefusal::kStorage;
    return st;
  }
  // Compare every record's hash in constant time (no early exit on a
  // mismatching prefix).
  TokenRecord* found = nullptr;
  for (TokenRecord& r : records) {
    if (CRYPTO_memcmp(r.hash.data(), hash.data(), hash.size()) == 0) found = &r;
  }
  if (found == nullptr) {
    *why = TokenRefusal::kUnknown;
    return Status::InvalidArgument("unknown token (not issued by this collector, or long expired)");
  }
  if (found->used_ms != 0) {
    *why = TokenRefusal::kUsed;
    return Status::InvalidArgument(
        "token already used (create a new one with "
        "`parallax-collector token create --name " +
        found->name + "`)");
  }
  int64_t now = now_ms_();
  if (now > found->expires_ms) {
    *why = TokenRefusal::kExpired;
    return Status::InvalidArgument(
        "token expired (create a new one with "
        "`parallax-collector token create --name " +
        found->name + "`)");
  }
  if (found->name != name) {
    *why = TokenRefusal::kWrongName;
    return Status::InvalidArgument("token was issued for probe \"" + found->name + "\", not \"" +
                                   name + "\"");
  }
  found->used_ms = now;
  st = Save(records);
  if (!st.ok()) {
    *why = TokenRefusal::kStorage;
    return st;
  }
  return Status::Ok();
}

Status TokenStore::List(std::vector<TokenRecord>* out) {
  std::lock_guard<std::mutex> guard(mu_);
  FileLock lock(path_);
  if (Status st = lock.status(); !st.ok()) return st;
  return Load(out);
}

}  // namespace parallax::collector
