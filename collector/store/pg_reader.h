// PgReader: the read connection of a PostgresStore (StoreReader, see
// store_backend.h) and its host key pins. Reads see committed data only. A
// broken connection is reopened at the next call (one attempt per call; the
// call fails with the connection error if the server is still away).
//
// Thread-safe: every method takes the reader's mutex for its duration.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/store/pg_util.h"
#include "collector/store/store_backend.h"

namespace parallax::collector {

class PgReader : public StoreReader {
 public:
  // Connects to `dsn` (the schema must exist: open the PgWriter first).
  static Status Open(const std::string& dsn, std::unique_ptr<PgReader>* out);

  bool shared() const override { return true; }
  // probe_boots.max_seq, read through (another collector may have raised it).
  Status ReadCommittedSeq(const std::string& probe, const std::string& boot_id,
                          uint64_t* out) override;
  Status LatestResults(std::vector<ResultRow>* out) override;
  Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                 size_t limit, std::vector<ResultRow>* out) override;
  Status ListProbes(std::vector<ProbeRecord>* out) override;
  Status Runs(const std::string& target, const std::string& probe, int64_t since_ms, size_t limit,
              std::vector<RunRecord>* out) override;
  Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                       std::vector<IncidentRecord>* out) override;
  Status LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out);
  Status SaveHostKeyPins(const std::string& target, const std::vector<std::string>& fingerprints,
                         int64_t at_ms);

 private:
  PgReader() = default;
  // Reconnects if the connection broke (mu_ held).
  Status Ensure();
  Status Query(const std::string& sql, const std::vector<pg::Param>& params, pg::Result* out);
  Status ReadRows(const pg::Result& r, std::vector<ResultRow>* out);
  // Rows of (probe, target, boot_id, serialized CheckResult) from latest_results.
  static Status ParseLatest(const pg::Result& r, std::vector<ResultRow>* out);

  std::mutex mu_;
  std::string dsn_;
  pg::Conn conn_;
};

}  // namespace parallax::collector
