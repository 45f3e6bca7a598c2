// Writer: the write connection of the Store and everything done in write
// transactions (result inserts with dedupe, run compaction, the newest
// result per pair, probe and target upserts, retention deletes). Holds its
// prepared statements for reuse and caches of name -> id and (probe, boot)
// -> {row id, max committed seq}. Runs (store.h, "Run compaction"): the
// current run of a pair is read (runs_probe_target index) the first time a
// transaction meets the pair, extended in memory, and written once at the
// end of the transaction (or when a change ends it); latest_results gets
// one upsert per pair per transaction. Nothing about runs is cached across
// transactions (retention may delete them).
//
// Thread-safety: none; owned and used by the Store's single writer thread
// (and by Open() before that thread starts).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "collector/store/runs.h"
#include "collector/store/sqlite_util.h"
#include "collector/store/store.h"
#include "collector/store/store_backend.h"
#include "common/status.h"

namespace parallax::collector {

class Writer : public StoreWriter {
 public:
  // Opens (creating) the database at `path`: WAL, synchronous=FULL,
  // foreign_keys=ON, busy_timeout; migrates; prepares statements.
  static Status Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                     std::unique_ptr<Writer>* out);

  // Every (probe, boot) with its max committed seq, from probe_boots.
  Status LoadBoots(std::map<BootKey, uint64_t>* out) override;

  // Applies `ops` in one BEGIN IMMEDIATE ... COMMIT. On success `infos[i]`
  // (same size as ops) holds the outcome of results op i, and `committed`
  // the new max seq of every boot touched. On error everything is rolled back
  // and the caches dropped; infos and committed are left unspecified.
  Status Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
               std::map<BootKey, uint64_t>* committed) override;

  void SetCompaction(bool on) override { compaction_ = on; }
  // Deletes at most `chunk` results with ts_ms < cutoff_ms in one transaction.
  Status DeleteOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  // Deletes at most `chunk` runs with last_ms < cutoff_ms (found by the
  // runs_first index), then latest_results rows older than cutoff_ms.
  Status DeleteRunsOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  // Deletes at most `chunk` incidents closed before cutoff_ms (with their
  // changes) in one transaction.
  Status DeleteIncidentsClosedBefore(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  // Deletes at most `chunk` probes last seen before cutoff_ms that have no
  // stored result left, with their boots (dedupe state), in one transaction;
  // their names go to *names.
  Status DeleteExpiredProbes(int64_t cutoff_ms, int64_t chunk,
                             std::vector<std::string>* names) override;
  // ts_ms of the oldest stored result, 0 if none (uses the results_ts index).
  Status OldestResultMs(int64_t* out) override;
  // SQLITE_BUSY/LOCKED (another connection holds the lock) is retried.
  bool Retryable(const Status& s) const override;
  // busy, full, io, corrupt, other by SQLite result code.
  const char* ErrorKind(const Status& s) const override;
  // A PASSIVE WAL checkpoint (never waits for readers or writers), then the
  // sizes of the file, its -wal and the free space in its directory.
  void Maintain(StoreStats* stats) override;

 private:
  struct BootState {
    int64_t id = 0;
    uint64_t max_seq = 0;
  };
  Writer() = default;
  Status Prepare();
  Status ApplyOne(WriteOp& op, CommitInfo* info, int64_t now_ms);
  Status ApplyResults(WriteOp& op, CommitInfo* info, int64_t now_ms);
  Status ApplyProbe(const ProbeRecord& p, int64_t now_ms);
  Status ApplyTargets(const std::vector<TargetRecord>& targets, int64_t now_ms);
  Status ApplyIncident(const WriteOp& op, int64_t now_ms);
  Status AddIncidentChange(int64_t incident_id, v1::Cause cause, int64_t at_ms,
                           const std::string& summary);
  Status ProbeId(const std::string& name, int64_t now_ms, int64_t* id);
  Status TargetId(const std::string& name, int64_t now_ms, int64_t* id);
  Status Boot(int64_t probe_id, const std::string& boot_id, BootState* out);
  Status Rollback(Status cause);
  // Binds ?1..?18 (results / latest_results column order).
  static void BindResult(sqlite::Statement* st, int64_t probe_id, int64_t target_id,
                         int64_t boot_ref, const v1::CheckResult& r);
  Status InsertResult(int64_t probe_id, int64_t target_id, int64_t boot_ref,
                      const v1::CheckResult& r);
  // Folds a scheduled result into the current run of its pair.
  Status AddToRun(int64_t probe_id, int64_t target_id, int64_t boot_ref, const v1::CheckResult& r);
  Status WriteRun(int64_t probe_id, int64_t target_id, RunState* run);
  // Writes the dirty runs and the newest results of this transaction.
  Status FlushPending();

  std::string path_;
  sqlite::Db db_;
  sqlite::Statement begin_, commit_, rollback_;
  sqlite::Statement select_probe_, insert_probe_name_, upsert_probe_;
  sqlite::Statement select_target_, insert_target_name_, upsert_target_;
  sqlite::Statement select_boot_, insert_boot_, update_boot_;
  sqlite::Statement insert_result_, delete_old_;
  sqlite::Statement select_old_incidents_, delete_incident_changes_, delete_incident_;
  sqlite::Statement oldest_result_;
  sqlite::Statement select_expired_probes_, delete_probe_boots_, delete_probe_latest_,
      delete_probe_;
  sqlite::Statement open_incident_, insert_incident_, update_incident_, close_incident_;
  sqlite::Statement insert_change_;
  sqlite::Statement select_run_, insert_run_, update_run_, upsert_latest_;
  sqlite::Statement delete_runs_, delete_old_latest_;

  bool compaction_ = true;
  using Pair = std::pair<int64_t, int64_t>;  // (probe id, target id)
  struct Newest {
    int64_t boot_ref = 0;
    const v1::CheckResult* result = nullptr;  // in the ops being applied
  };
  std::map<Pair, RunState> pending_runs_;  // this transaction: the current run per pair
  std::map<Pair, Newest> pending_latest_;  // this transaction

  std::map<std::string, int64_t> probe_ids_;
  std::map<std::string, int64_t> target_ids_;
  std::map<std::pair<int64_t, std::string>, BootState> boots_;          // committed
  std::map<std::pair<int64_t, std::string>, BootState> pending_boots_;  // this transaction
};

}  // namespace parallax::collector
