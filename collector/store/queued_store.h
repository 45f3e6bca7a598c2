// QueuedStore: the Store contract (store.h) over any database: a queue of
// WriteOps drained by one writer thread that owns the StoreWriter (write
// connection); a StoreReader (its own connection) for queries; an in-memory map (probe, boot) ->
// max committed seq, loaded at Open and updated after each COMMIT, for CommittedSeq() and dedupe.
// On a shared database (StoreReader::shared(), PostgreSQL) CommittedSeq()
// reads the boot's mark through the reader's connection and raises the
// cached one to it: another collector may have stored more of the boot.
//
// The writer loop: when it committed within the last 100 ms (busy), wait up
// to group_commit_wait for more ops (group commit: one fsync for several
// streams' batches); take queued ops up to max_batch_results results (at least
// one op), refuse the results ops of broken boots (below), Apply the rest in
// one transaction (retrying SQLITE_BUSY with backoff up to busy_retry),
// publish committed seqs, run the `done` callbacks, mark the ops completed
// (waking Flush()). When a retention sweep is due, delete one chunk per
// iteration when the queue is empty (results, incidents, runs, probes), and one chunk per
// kSweepUnderLoadEvery between batches when it is not (so retention keeps up under load). Every
// `stats_every`, refresh the stats (StoreWriter::Maintain: a PASSIVE WAL
// checkpoint on SQLite, partitions ahead on PostgreSQL).
//
// Broken boots: a failed transaction marks every (probe, boot) it touched as
// broken. A results op of a broken boot is refused unless it starts at or
// below the committed seq + 1, or was queued after CommittedSeq() was asked
// for that boot (a new stream's Welcome). A successful commit of the boot
// clears the mark.
//
// SqliteStore (sqlite_store.h) and PostgresStore (postgres_store.h) build
// their writer and reader and call Start().
//
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/store/store.h"
#include "collector/store/store_backend.h"

namespace parallax::collector {

class QueuedStore : public Store {
 public:
  ~QueuedStore() override;

  void SubmitResults(const std::string& probe, const std::string& boot_id,
                     std::vector<v1::CheckResult> results, CommitCallback done) override;
  void RecordProbe(const ProbeRecord& probe) override;
  void SyncTargets(const std::vector<TargetRecord>& targets) override;
  void Flush() override;
  uint64_t CommittedSeq(const std::string& probe, const std::string& boot_id) const override;
  bool shared() const override;
  Status LatestResults(std::vector<ResultRow>* out) override;
  Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                 size_t limit, std::vector<ResultRow>* out) override;
  Status ListProbes(std::vector<ProbeRecord>* out) override;
  Status Runs(const std::string& target, const std::string& probe, int64_t since_ms, size_t limit,
              std::vector<RunRecord>* out) override;
  void OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                    const std::string& summary) override;
  void ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                      const std::string& summary) override;
  void CloseIncident(const std::string& target, int64_t at_ms, const std::string& summary) override;
  Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                       std::vector<IncidentRecord>* out) override;
  StoreStats Stats() const override;

 protected:
  QueuedStore(const StoreOptions& options, std::unique_ptr<StoreWriter> writer,
              std::unique_ptr<StoreReader> reader)
      : options_(options), writer_(std::move(writer)), reader_(std::move(reader)) {}
  // Loads the committed seqs, refreshes the stats and starts the writer
  // thread. Call once, last, from the subclass's Open.
  Status Start();

  const StoreOptions options_;

 private:
  void Enqueue(WriteOp op);
  void EnqueueIncident(WriteOp::IncidentAction action, const std::string& target, v1::Cause cause,
                       int64_t at_ms, const std::string& summary);
  void WriterLoop();
  // Takes the next batch from queue_ (mu_ held).
  std::vector<WriteOp> TakeBatch();
  void CommitBatch(std::vector<WriteOp> batch);
  void SweepChunk();
  // Refreshes sizes, free space and retention lag (StoreWriter::Maintain).
  void RefreshStats();
  void CountError(const Status& s);
  // How long results rows are kept: the changes' retention when compacting,
  // else `retention`.
  std::chrono::milliseconds ChangeRetention() const {
    return options_.compaction ? options_.change_retention : options_.retention;
  }

  std::unique_ptr<StoreWriter> writer_;  // writer thread only (after Start)
  std::unique_ptr<StoreReader> reader_;

  static constexpr uint64_t kNoResync = UINT64_MAX;
  static constexpr std::chrono::milliseconds kSweepUnderLoadEvery{250};
  // A commit that ended less than this ago means "busy": group the next one.
  static constexpr std::chrono::milliseconds kGroupCommitBusy{100};
  // The committed max seq without marking a resync (writer thread).
  uint64_t Committed(const BootKey& key) const;

  mutable std::mutex seq_mu_;
  // Mutable: CommittedSeq() raises it to a mark read through (shared stores).
  mutable std::map<BootKey, uint64_t> committed_;  // guarded by seq_mu_
  // Broken boots -> index of the first op accepted from a new stream
  // (kNoResync until CommittedSeq() is asked). Guarded by seq_mu_.
  mutable std::map<BootKey, uint64_t> broken_;
  std::atomic<uint64_t> next_index_{0};  // WriteOp::index of the next Enqueue

  std::mutex mu_;
  std::condition_variable work_cv_;  // writer waits for work
  std::condition_variable done_cv_;  // Flush() waits for completion
  std::deque<WriteOp> queue_;        // guarded by mu_
  uint64_t enqueued_ = 0;            // guarded by mu_
  uint64_t completed_ = 0;           // guarded by mu_
  size_t queued_results_ = 0;        // results in queue_, guarded by mu_
  bool group_waiting_ = false;       // the writer waits to group a commit; guarded by mu_
  bool stop_ = false;                // guarded by mu_

  // Writer thread only.
  std::chrono::steady_clock::time_point next_sweep_;
  std::chrono::steady_clock::time_point last_chunk_;  // of the sweep in progress
  std::chrono::steady_clock::time_point next_stats_;
  std::chrono::steady_clock::time_point last_commit_end_;
  bool sweeping_ = false;
  // 0: results (changes), 1: closed incidents, 2: runs, 3: expired probes
  int sweep_phase_ = 0;
  int64_t sweep_cutoff_ms_ = 0;
  int64_t change_cutoff_ms_ = 0;
  int64_t incident_cutoff_ms_ = 0;

  mutable std::mutex stats_mu_;
  StoreStats stats_;  // guarded by stats_mu_

  std::thread thread_;
};

}  // namespace parallax::collector
