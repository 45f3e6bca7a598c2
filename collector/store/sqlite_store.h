// SqliteStore: the Store implementation (see store.h for the contract).
//
// Structure: a queue of WriteOps drained by one writer thread that owns the
// Writer (write connection); a Reader (read-only connection, own mutex) for
// queries; an in-memory map (probe, boot) -> max committed seq, loaded at Open
// and updated after each COMMIT, for CommittedSeq() and dedupe.
//
// The writer loop: take queued ops up to max_batch_results results (at least
// one op), Apply them in one transaction, publish committed seqs, run the
// `done` callbacks, mark the ops completed (waking Flush()). When the queue
// is empty and a retention sweep is due, delete one chunk per iteration.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/store/reader.h"
#include "collector/store/store.h"
#include "collector/store/writer.h"

namespace parallax::collector {

class SqliteStore : public Store {
 public:
  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~SqliteStore() override;

  void SubmitResults(const std::string& probe, const std::string& boot_id,
                     std::vector<v1::CheckResult> results, CommitCallback done) override;
  void RecordProbe(const ProbeRecord& probe) override;
  void SyncTargets(const std::vector<TargetRecord>& targets) override;
  void Flush() override;
  uint64_t CommittedSeq(const std::string& probe, const std::string& boot_id) const override;
  Status LatestResults(std::vector<ResultRow>* out) override;
  Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                 size_t limit, std::vector<ResultRow>* out) override;
  Status ListProbes(std::vector<ProbeRecord>* out) override;
  void OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                    const std::string& summary) override;
  void ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                      const std::string& summary) override;
  void CloseIncident(const std::string& target, int64_t at_ms, const std::string& summary) override;
  Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                       std::vector<IncidentRecord>* out) override;

 private:
  explicit SqliteStore(const StoreOptions& options) : options_(options) {}
  void Enqueue(WriteOp op);
  void EnqueueIncident(WriteOp::IncidentAction action, const std::string& target, v1::Cause cause,
                       int64_t at_ms, const std::string& summary);
  void WriterLoop();
  // Takes the next batch from queue_ (mu_ held).
  std::vector<WriteOp> TakeBatch();
  void CommitBatch(std::vector<WriteOp> batch);
  void SweepChunk();

  const StoreOptions options_;
  std::unique_ptr<Writer> writer_;  // writer thread only (after Open)
  std::unique_ptr<Reader> reader_;

  mutable std::mutex seq_mu_;
  std::map<BootKey, uint64_t> committed_;  // guarded by seq_mu_

  std::mutex mu_;
  std::condition_variable work_cv_;  // writer waits for work
  std::condition_variable done_cv_;  // Flush() waits for completion
  std::deque<WriteOp> queue_;        // guarded by mu_
  uint64_t enqueued_ = 0;            // guarded by mu_
  uint64_t completed_ = 0;           // guarded by mu_
  bool stop_ = false;                // guarded by mu_

  // Writer thread only.
  std::chrono::steady_clock::time_point next_sweep_;
  bool sweeping_ = false;
  int64_t sweep_cutoff_ms_ = 0;

  std::thread thread_;
};

}  // namespace parallax::collector
