// SpoolFile: the probe's spool on disk, one SQLite file (WAL).
//
//   meta(key, value): probe_name, boot_id, next_seq, dropped
//   results(seq INTEGER PRIMARY KEY, data BLOB): encoded CheckResults not yet
//   acknowledged by the collector.
//
// Durability: journal_mode=WAL, synchronous=NORMAL. A killed probe loses
// nothing committed (the WAL is in the page cache); a power loss may lose the
// last transactions since the last checkpoint — then a restarted probe could
// reuse seqs it had already sent, which the collector's Welcome.committed_seq
// corrects (Spool::Ack moves the next seq past it). Fsync per batch is not
// worth its cost on the probe.
//
// The file is locked (flock on "<path>.lock") for the life of the object: a
// second probe on the same --state-dir is refused.
//
// Not thread-safe: one owner (the Spool's writer thread after Open/Load).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace parallax::probe {

struct SpoolMeta {
  std::string probe_name;
  std::string boot_id;
  uint64_t next_seq = 1;
  uint64_t dropped = 0;
};

class SpoolFile {
 public:
  SpoolFile() = default;
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  // Opens or creates `path`, takes the lock, creates the tables.
  Status Open(const std::string& path);
  // Reads the meta row (defaults if none) and every stored result in seq order.
  Status Load(SpoolMeta* meta, const std::function<void(uint64_t seq, std::string&& data)>& row);
  // One transaction: inserts `rows`, deletes every result with seq < `keep_from`,
  // writes `meta`.
  Status Commit(const std::vector<std::pair<uint64_t, std::string>>& rows, uint64_t keep_from,
                const SpoolMeta& meta);
  // Deletes everything (results and meta) in one transaction.
  Status Clear();
  const std::string& path() const { return path_; }

 private:
  Status Exec(const char* sql);
  Status Error(const std::string& what) const;

  std::string path_;
  int lock_fd_ = -1;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* meta_ = nullptr;
};

}  // namespace parallax::probe
