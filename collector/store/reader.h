// Reader: the Store's read-only connection and its queries. Reads run on
// their own connection so they never wait for the writer (WAL: readers see
// the last committed state while a write transaction is open).
//
// Thread-safe: every method takes the reader's mutex for its duration.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/store/sqlite_util.h"
#include "collector/store/store.h"
#include "collector/store/store_backend.h"
#include "common/status.h"

namespace parallax::collector {

// The newest result of every probe x target pair: the latest_results table
// (one row per pair, schema version 6), never a scan of results. Exposed so
// a test can check its query plan.
std::string LatestResultsSql();
// Runs of one target (?1 name, ?2 probe or '', ?3 since_ms on last_ms, ?4
// limit or -1), newest first, by the runs(target_id, first_ms) index.
std::string RunsSql();
// Results of one target (?1 name, ?2 probe or '', ?3 since_ms, ?4 limit or -1),
// newest first, by a range search on results(target_id, ts_ms). History
// adds the target's newest results (NewestOfTargetSql, by the
// latest_results(target_id) index) that are not results rows.
std::string HistorySql();
std::string NewestOfTargetSql();

class Reader : public StoreReader {
 public:
  // Opens `path` read-only (the schema must exist: open the Writer first).
  static Status Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                     std::unique_ptr<Reader>* out);

  Status LatestResults(std::vector<ResultRow>* out) override;
  // Newest first; `probe` empty = all probes; `limit` 0 = no limit.
  Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                 size_t limit, std::vector<ResultRow>* out) override;
  Status ListProbes(std::vector<ProbeRecord>* out) override;
  Status Runs(const std::string& target, const std::string& probe, int64_t since_ms, size_t limit,
              std::vector<RunRecord>* out) override;
  // Newest first; `target` empty = all; `limit` 0 = no limit.
  Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                       std::vector<IncidentRecord>* out) override;

 private:
  Reader() = default;
  Status ReadRows(sqlite::Statement* st, std::vector<ResultRow>* out);
  Status PrepareIncidents();  // reader_incidents.cc

  std::mutex mu_;
  sqlite::Db db_;
  sqlite::Statement latest_, history_, newest_, runs_, probes_, incidents_, changes_;
};

}  // namespace parallax::collector
