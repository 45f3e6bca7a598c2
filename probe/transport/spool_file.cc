#include "probe/transport/spool_file.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parallax::probe {

SpoolFile::~SpoolFile() {
  sqlite3_finalize(insert_);
  sqlite3_finalize(delete_);
  sqlite3_finalize(meta_);
  if (db_ != nullptr) sqlite3_close(db_);
  if (lock_fd_ >= 0) close(lock_fd_);
}

Status SpoolFile::Error(const std::string& what) const {
  std::string msg = "spool \"" + path_ + "\": " + what;
  if (db_ != nullptr) {
    msg += ": " + std::string(sqlite3_errmsg(db_)) + " (code " +
           std::to_string(sqlite3_extended_errcode(db_)) + ")";
  }
  return Status::IoError(msg);
}

Status SpoolFile::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError("spool \"" + path_ + "\": " + msg);
  }
  return Status::Ok();
}

Status SpoolFile::Open(const std::string& path) {
  path_ = path;
  std::string lock_path = path + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return Status::IoError("spool \"" + lock_path + "\": cannot open: " + std::strerror(errno));
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable("spool \"" + path +
                               "\" is in use by another parallax-probe (give each probe its own "
                               "--state-dir)");
  }
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Error("cannot open");
  }
  sqlite3_busy_timeout(db_, 2000);
  Status s = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  if (!s.ok()) return s;
  s = Exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS results (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);");
  if (!s.ok()) return s;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO results (seq, data) VALUES (?, ?)", -1,
                         &insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "DELETE FROM results WHERE seq < ?", -1, &delete_, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", -1, &meta_,
                         nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  return Status::Ok();
}

Status SpoolFile::Load(SpoolMeta* meta, const std::function<void(uint64_t, std::string&&)>& row) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT key, value FROM meta", -1, &st, nullptr) != SQLITE_OK) {
    return Error("read meta");
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::string key = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    if (key == "probe_name") meta->probe_name = value;
    if (key == "boot_id") meta->boot_id = value;
    if (key == "next_seq") meta->next_seq = std::strtoull(value.c_str(), nullptr, 10);
    if (key == "dropped") meta->dropped = std::strtoull(value.c_str(), nullptr, 10);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Error("read meta");
  if (sqlite3_prepare_v2(db_, "SELECT seq, data FROM results ORDER BY seq", -1, &st, nullptr) !=
      SQLITE_OK) {
    return Error("read results");
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint64_t seq = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    const char* data = static_cast<const char*>(sqlite3_column_blob(st, 1));
    int n = sqlite3_column_bytes(st, 1);
    row(seq, std::string(data == nullptr ? "" : data, static_cast<size_t>(n)));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Error("read results");
  return Status::Ok();
}

Status SpoolFile::Commit(const std::vector<std::pair<uint64_t, std::string>>& rows,
                         uint64_t keep_from, const SpoolMeta& meta) {
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  auto fail = [&](const char* what) {
    Status e = Error(what);
    sqlite3_reset(insert_);
    sqlite3_reset(delete_);
    sqlite3_reset(meta_);
    Exec("ROLLBACK");
    return e;
  };
  for (const auto& [seq, data] : rows) {
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(seq));
    sqlite3_bind_blob(insert_, 2, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    if (sqlite3_step(insert_) != SQLITE_DONE) return fail("insert");
    sqlite3_reset(insert_);
  }
  sqlite3_bind_int64(delete_, 1, static_cast<sqlite3_int64>(keep_from));
  if (sqlite3_step(delete_) != SQLITE_DONE) return fail("delete acknowledged");
  sqlite3_reset(delete_);
  const std::pair<const char*, std::string> kv[] = {
      {"probe_name", meta.probe_name},
      {"boot_id", meta.boot_id},
      {"next_seq", std::to_string(meta.next_seq)},
      {"dropped", std::to_string(meta.dropped)},
  };
  for (const auto& [key, value] : kv) {
    sqlite3_bind_text(meta_, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(meta_, 2, value.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(meta_) != SQLITE_DONE) return fail("write meta");
    sqlite3_reset(meta_);
  }
  s = Exec("COMMIT");
  if (!s.ok()) {
    Exec("ROLLBACK");
    return s;
  }
  return Status::Ok();
}

Status SpoolFile::Clear() { return Exec("BEGIN; DELETE FROM results; DELETE FROM meta; COMMIT;"); }

}  // namespace parallax::probe
