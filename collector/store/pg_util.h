// Thin RAII wrappers over libpq (the PostgreSQL C client): Conn owns one
// connection, Result one PGresult. Errors come back as parallax::Status with
// PostgreSQL's message and SQLSTATE; a lost connection maps to Unavailable.
// A DSN's password is never put in a Status or a log line (RedactDsn).
//
// Thread-safety: none. A Conn must be used by one thread at a time (the
// PostgresStore guards each connection with its writer thread or a mutex).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax::collector::pg {

// `dsn` with the value of every password keyword replaced by "***" (both the
// "key=value" and the URI form). Safe to print.
std::string RedactDsn(const std::string& dsn);
// Checks that `dsn` parses as a libpq connection string (without connecting);
// the error names neither the password nor anything after it.
Status ValidateDsn(const std::string& dsn);

// `in` as PostgreSQL text: TEXT holds neither NUL nor invalid UTF-8, which a
// probe or an SSH server may send; those bytes become "\xNN" (SanitizeUtf8).
std::string ToPgText(std::string_view in);

// An array literal for a text[] parameter ('{"a","b",NULL}'), built element
// by element; ints need no quoting.
class ArrayLiteral {
 public:
  void Add(std::string_view text);
  void AddNull();
  void AddInt(int64_t v);
  std::string Take();

 private:
  void Sep();
  std::string out_ = "{";
};

// SQLSTATE class of connection loss ("08...") or an admin shutdown ("57P...").
bool IsConnectionError(const Status& s);
// The SQLSTATE carried by a Status made here, "" if none.
std::string SqlStateOf(const Status& s);

class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { Clear(); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int Rows() const { return r_ ? PQntuples(r_) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;  // 0 when NULL
  // A bytea column in text (hex) output, decoded.
  std::string Bytes(int row, int col) const;
  int64_t Affected() const;  // PQcmdTuples as a number
  PGresult* get() const { return r_; }

 private:
  void Clear();
  PGresult* r_ = nullptr;
};

// A parameter: nullopt is SQL NULL; text format (bytea parameters are given
// as binary via Param::Binary).
struct Param {
  std::optional<std::string> value;
  bool binary = false;
  static Param Null() { return {}; }
  static Param Text(std::string v) { return {std::move(v), false}; }
  static Param Int(int64_t v) { return {std::to_string(v), false}; }
  static Param Binary(std::string v) { return {std::move(v), true}; }
};

class Conn {
 public:
  Conn() = default;
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects (closing any previous connection). connect_timeout (seconds) is
  // added unless the DSN has one. Errors never carry the DSN's password.
  Status Connect(const std::string& dsn, int connect_timeout_s);
  void Close();
  // Connected and not known broken.
  bool Healthy() const;

  // Runs one or more statements without parameters (simple query protocol).
  Status Exec(std::string_view sql, Result* out = nullptr);
  // One statement with parameters ($1..$n).
  Status Query(const std::string& sql, const std::vector<Param>& params, Result* out = nullptr);
  // Prepares `sql` under `name` on this connection (once per connection).
  Status Prepare(const std::string& name, const std::string& sql);
  Status Run(const std::string& name, const std::vector<Param>& params, Result* out = nullptr);
  PGconn* get() const { return c_; }

 private:
  Status Check(PGresult* r, std::string_view what, Result* out);
  PGconn* c_ = nullptr;
};

}  // namespace parallax::collector::pg
