// The two halves of a database behind QueuedStore (queued_store.h): a
// StoreWriter, used only by the store's writer thread, applies batches of
// WriteOps in one transaction and runs retention; a StoreReader answers
// queries on its own connection. SQLite (writer.h, reader.h) and PostgreSQL
// (pg_writer.h, pg_reader.h) implement them.
//
// Thread-safety: StoreWriter none (one thread); StoreReader every method may
// be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "collector/store/store.h"
#include "common/status.h"

namespace parallax::collector {

// (probe name, boot id)
using BootKey = std::pair<std::string, std::string>;

// One queued write operation.
struct WriteOp {
  enum class Kind { kResults, kProbe, kTargets, kIncident };
  enum class IncidentAction { kOpen, kChange, kClose };
  Kind kind = Kind::kResults;
  uint64_t index = 0;  // position in submission order (set by the Store's queue)
  // kResults
  std::string probe;
  std::string boot_id;
  std::vector<v1::CheckResult> results;
  Store::CommitCallback done;
  // kProbe
  ProbeRecord probe_record;
  // kTargets
  std::vector<TargetRecord> targets;
  // kIncident
  IncidentAction incident_action = IncidentAction::kOpen;
  std::string incident_target;
  v1::Cause cause = v1::CAUSE_UNSPECIFIED;
  int64_t at_ms = 0;
  std::string summary;
};

class StoreWriter {
 public:
  virtual ~StoreWriter() = default;
  // Every (probe, boot) with its max committed seq.
  virtual Status LoadBoots(std::map<BootKey, uint64_t>* out) = 0;
  // Applies `ops` in one transaction. On success `infos[i]` (same size as
  // ops) holds the outcome of results op i (results sorted by seq, duplicates
  // by (probe, boot, seq) counted and not stored), and `committed` the new max
  // seq of every boot touched. On error everything is rolled back; infos and
  // committed are left unspecified.
  virtual Status Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
                       std::map<BootKey, uint64_t>* committed) = 0;
  // True when a failed Apply may be retried at once (SQLite busy); false:
  // the batch fails and its submitters resend.
  virtual bool Retryable(const Status& s) const = 0;
  // The StoreStats.errors kind of a failed transaction.
  virtual const char* ErrorKind(const Status& s) const = 0;

  // Run compaction on (default) or off (every result stored whole); set
  // before the first Apply.
  virtual void SetCompaction(bool on) = 0;
  // Retention, each step one transaction. Deletes results with ts_ms <
  // cutoff_ms (*deleted < chunk: none left).
  virtual Status DeleteOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) = 0;
  // Deletes at most `chunk` runs last seen before cutoff_ms, and the newest
  // results (latest_results) of pairs silent since before it.
  virtual Status DeleteRunsOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) = 0;
  // Deletes at most `chunk` incidents closed before cutoff_ms with their changes.
  virtual Status DeleteIncidentsClosedBefore(int64_t cutoff_ms, int64_t chunk,
                                             int64_t* deleted) = 0;
  // Deletes at most `chunk` probes last seen before cutoff_ms that have no
  // stored result left, with their boots; their names go to *names.
  virtual Status DeleteExpiredProbes(int64_t cutoff_ms, int64_t chunk,
                                     std::vector<std::string>* names) = 0;
  // ts_ms of the oldest stored result, 0 if none.
  virtual Status OldestResultMs(int64_t* out) = 0;
  // Periodic upkeep and sizes (SQLite: WAL checkpoint, file sizes; PostgreSQL:
  // partitions ahead, database size). Fills database_bytes, wal_bytes, free_bytes.
  virtual void Maintain(StoreStats* stats) = 0;
};

class StoreReader {
 public:
  virtual ~StoreReader() = default;
  // True when other collectors may write the same database (PostgreSQL).
  virtual bool shared() const { return false; }
  // Shared stores: the committed max seq of (probe, boot) as the database
  // has it now (0 if none). Others are never asked.
  virtual Status ReadCommittedSeq(const std::string& probe, const std::string& boot_id,
                                  uint64_t* out) {
    *out = 0;
    return Status::Ok();
  }
  virtual Status LatestResults(std::vector<ResultRow>* out) = 0;
  virtual Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                         size_t limit, std::vector<ResultRow>* out) = 0;
  virtual Status ListProbes(std::vector<ProbeRecord>* out) = 0;
  virtual Status Runs(const std::string& target, const std::string& probe, int64_t since_ms,
                      size_t limit, std::vector<RunRecord>* out) = 0;
  virtual Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                               std::vector<IncidentRecord>* out) = 0;
};

}  // namespace parallax::collector
