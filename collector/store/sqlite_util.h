// Thin RAII wrappers over the SQLite C API: Db owns one connection, Statement
// owns one prepared statement. Errors come back as parallax::Status carrying
// SQLite's message and the extended result code name.
//
// Thread-safety: none. A Db and its Statements must be used by one thread at a
// time (the Store guards each connection with its own thread or mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace parallax::collector::sqlite {

// A Status for the SQLite result code `rc` on `db` (may be null):
// "<what>: <sqlite message> (SQLITE_BUSY)". SQLITE_BUSY/LOCKED map to
// Unavailable, SQLITE_FULL/IOERR/CANTOPEN to IoError, the rest to Internal.
Status Error(sqlite3* db, int rc, std::string_view what);
// The (extended) SQLite result code carried by a Status made by Error(), or
// 0 if it carries none.
int CodeOf(const Status& status);

class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_NOMUTEX is added).
  Status Open(const std::string& path, int flags);
  // Runs one or more statements without results.
  Status Exec(std::string_view sql);
  // Runs a statement returning one integer (e.g. "PRAGMA user_version").
  Status QueryInt(std::string_view sql, int64_t* out);
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Status Prepare(sqlite3* db, std::string_view sql);
  bool prepared() const { return stmt_ != nullptr; }

  // Parameters are 1-based. A failed bind is reported by the next Step().
  void BindInt64(int index, int64_t value);
  void BindText(int index, std::string_view value);
  void BindBlob(int index, std::string_view bytes);
  void BindNull(int index);

  // One step: *row is true if a result row is available, false when done.
  Status Step(bool* row);
  // Steps to completion (ignoring rows), then Reset()s.
  Status Run();
  // Resets the statement and clears its bindings, ready for reuse.
  void Reset();

  // Columns are 0-based.
  int64_t ColumnInt64(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  void NoteBind(int rc);
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = SQLITE_OK;
};

// Resets a statement when leaving scope (so a failed step does not keep a
// read transaction or a lock open).
class ResetGuard {
 public:
  explicit ResetGuard(Statement* s) : s_(s) {}
  ~ResetGuard() { s_->Reset(); }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  Statement* s_;
};

}  // namespace parallax::collector::sqlite
