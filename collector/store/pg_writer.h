// PgWriter: the write connection of a PostgresStore (StoreWriter, see
// store_backend.h): batched result inserts with dedupe, probe/target
// upserts, incidents, retention by dropping partitions.
//
// Exactly-once: each transaction locks the row of every boot it writes
// (probe_boots ... FOR UPDATE) and stores only seqs above its max_seq, then
// raises max_seq, so two collectors writing one boot serialize and a resend
// is counted as duplicates. A UNIQUE (boot_ref, seq, ts_ms) index (PostgreSQL
// requires the partition key in it) with ON CONFLICT DO NOTHING backs this up
// within a partition. Results of a batch go in one prepared INSERT ... SELECT
// FROM unnest($1::bigint[], ...) per submission. The same transaction
// upserts latest_results (schema version 2): the newest scheduled result of
// each probe x target pair it stores, replacing an older row only (by ts_ms),
// with ingest_ms = this collector's clock, and appends the submission's
// pairs to latest_changes (schema version 4), for the leader's polling
// (PgCoordinator) and LatestResults. Every such upsert is a HOT update:
// latest_results has no index but its primary key, whose columns never change. Run compaction (store.h; schema version
// 3): the current runs of a submission's pairs are read in one query (the
// transaction's own writes included: the boot row lock serializes writers of
// a probe's boot), extended in memory and written with one UPDATE ... FROM
// unnest and one INSERT ... SELECT FROM unnest per submission; only changes
// and ad-hoc results go to `results`.
//
// Connection loss: a failed statement on a broken connection fails the
// transaction (its submitters resend; nothing is acked). The next Apply
// reconnects, with backoff (100 ms doubling to 5 s) between failed attempts;
// while waiting, Apply fails at once with Unavailable. A COMMIT whose outcome
// is unknown is reported failed: the resend is then deduplicated by max_seq.
//
// Thread-safety: none; owned by the store's writer thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "collector/store/pg_util.h"
#include "collector/store/runs.h"
#include "collector/store/store_backend.h"

namespace parallax::collector {

class PgWriter : public StoreWriter {
 public:
  // Connects, migrates (pg::Migrate) and prepares statements.
  static Status Open(const std::string& dsn, int64_t width_ms, std::unique_ptr<PgWriter>* out);

  Status LoadBoots(std::map<BootKey, uint64_t>* out) override;
  Status Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
               std::map<BootKey, uint64_t>* committed) override;
  // Deadlock and serialization failures (40P01, 40001) are retried; a lost
  // connection is not (the batch fails, the probe resends).
  bool Retryable(const Status& s) const override;
  // "connection" (server unreachable or gone), "full" (53xxx), "io" (58xxx),
  // "busy" (40xxx, 55P03), "other".
  const char* ErrorKind(const Status& s) const override;
  // Drops whole partitions that end at or before cutoff_ms (one per call,
  // reporting `chunk` deleted), then deletes at most `chunk` older rows of
  // the partition holding cutoff_ms.
  Status DeleteOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  void SetCompaction(bool on) override { compaction_ = on; }
  // Deletes at most `chunk` runs last seen before cutoff_ms, then the
  // latest_results rows older than it.
  Status DeleteRunsOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  Status DeleteIncidentsClosedBefore(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) override;
  Status DeleteExpiredProbes(int64_t cutoff_ms, int64_t chunk,
                             std::vector<std::string>* names) override;
  Status OldestResultMs(int64_t* out) override;
  // Creates the partitions for now .. now + 2 widths; database size.
  void Maintain(StoreStats* stats) override;

  int64_t width_ms() const { return width_ms_; }

 private:
  struct BootState {
    int64_t id = 0;
    uint64_t max_seq = 0;
  };
  PgWriter() = default;
  // Connects (or reconnects) and prepares; honours the backoff.
  Status Ensure();
  Status Connect();
  Status Prepare();
  // Drops the connection if it is broken, clears caches, rolls back.
  Status Fail(Status cause);
  Status EnsurePartitions(const std::vector<WriteOp>& ops);
  Status ApplyOne(WriteOp& op, CommitInfo* info, int64_t now_ms);
  Status ApplyResults(WriteOp& op, CommitInfo* info, int64_t now_ms);
  // Run compaction of one submission's fresh results (in seq order): reads
  // the current runs of its pairs, extends or starts runs (one UPDATE and one
  // INSERT statement for all of them), and puts the results to store whole
  // (changes, ad-hoc) in *rows.
  Status FoldRuns(int64_t probe_id, int64_t boot_ref,
                  const std::vector<std::pair<int64_t, const v1::CheckResult*>>& fresh,
                  const std::map<int64_t, const v1::CheckResult*>& newest,
                  std::vector<std::pair<int64_t, const v1::CheckResult*>>* rows);
  Status ApplyProbe(const ProbeRecord& p, int64_t now_ms);
  Status ApplyTargets(const std::vector<TargetRecord>& targets, int64_t now_ms);
  Status ApplyIncident(const WriteOp& op, int64_t now_ms);
  Status AddIncidentChange(int64_t incident_id, v1::Cause cause, int64_t at_ms,
                           const std::string& summary);
  Status ProbeId(const std::string& name, int64_t now_ms, int64_t* id);
  Status TargetId(const std::string& name, int64_t now_ms, int64_t* id);
  Status Boot(int64_t probe_id, const std::string& boot_id, BootState* out);

  std::string dsn_;
  int64_t width_ms_ = 0;
  bool compaction_ = true;
  pg::Conn conn_;
  bool prepared_ = false;
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds backoff_{0};

  std::map<std::string, int64_t> probe_ids_;
  std::map<std::string, int64_t> target_ids_;
  std::set<int64_t> partitions_;                                        // starts known to exist
  std::map<std::pair<int64_t, std::string>, BootState> pending_boots_;  // this transaction
};

}  // namespace parallax::collector
