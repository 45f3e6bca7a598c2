// Store: the collector's database: SQLite (WAL mode, the default driver,
// sqlite_store.h) or PostgreSQL (postgres_store.h). One writer thread owns
// the write connection and commits submitted results in batched transactions
// with prepared statements; reads use a separate connection. What follows
// says SQLite where the two differ; postgres_store.h states the rest.
//
// Contract:
//  - SubmitResults() never blocks on SQLite: it queues and returns. `done` runs
//    on the writer thread after the transaction holding the results committed
//    (or failed); it must be quick and must not call back into the Store's
//    write path synchronously.
//  - Results are deduplicated by (probe, boot_id, seq): a seq at or below the
//    highest committed seq of that boot is counted as a duplicate, not stored.
//    Within one boot, seqs must arrive in increasing order (the probe sends them
//    so); gaps are allowed.
//  - Nothing reported committed is lost: `done` runs only after COMMIT.
//  - Contiguous commits: when a transaction fails, every submission of the
//    boots it touched that was queued behind it fails too (with the same
//    status, so the stream closes and the probe resends), and so does every
//    later submission of those boots until either one starts at or below
//    committed seq + 1 (it continues what is stored) or a new stream asked
//    CommittedSeq() (the Welcome): the high-water mark never passes a result
//    that is not stored. A probe whose spool overflowed declares the lost
//    range in ResultBatch.dropped_through; the store does not need it: the
//    gap is accepted like any other outside a failed transaction, and after
//    one from the probe's next stream (its Welcome), never on the failed one.
//  - SQLITE_BUSY/LOCKED (another process holds the write lock, e.g. a backup)
//    is waited for by SQLite for `busy_timeout`, then the transaction is
//    retried with backoff until `busy_retry` has passed, then it fails.
//  - Durability: WAL with synchronous=FULL. The WAL is fsynced at every COMMIT,
//    before `done` runs (and so before the probe's ack): an acknowledged
//    result survives a kill -9 of the collector and an OS crash or power loss.
//    Batching keeps this to one fsync per transaction, and group commit
//    (`group_commit_wait`) puts several streams' batches in one transaction.
//  - Run compaction (`compaction`, on by default; schema: SQLite 6,
//    PostgreSQL 3): a scheduled result that continues the current run of its
//    probe x target pair (same outcome, same boot) only extends that run's
//    row (last seen, last seq, count, connect latency min/sum/max), once per
//    pair per transaction; a result that starts a new run (first of a pair,
//    another outcome, another boot) is a change: a new run row plus the full
//    result in `results`. Ad-hoc results are always stored whole. Dedupe is
//    unchanged (probe_boots.max_seq), and the results a boot stored are the
//    sum of its runs' counts plus its ad-hoc rows (seq ranges per run). The
//    newest full result of every pair is kept in latest_results (both stores,
//    both modes) for LatestResults. Off: every result is a results row.
//  - Retention: every `retention_sweep_every` the writer deletes results
//    older than `change_retention` (compaction on: they are the changes; off:
//    `retention`), then incidents closed longer ago than
//    `incident_retention` (with their changes), then runs last seen before
//    `retention` (and newest results of pairs silent that long), then probes
//    last seen before `retention` with no result or run left (with their
//    boots' dedupe state),
//    `retention_chunk_rows` per transaction, between result batches (never
//    stalling commits for a whole sweep, never starved by a busy queue).
//    Age is on the collector's clock (collector_started_unix_ms, stored as
//    ts_ms): a probe's wrong clock neither keeps its results longer nor drops
//    them early.
//  - Thread-safe: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// What the Store reports about itself, for metrics and alerts. Counters are
// cumulative since Open.
struct StoreStats {
  // Failed write transactions (after retries) by kind of SQLite error:
  // "busy" (locked by another connection), "full" (disk or quota full),
  // "io" (I/O error, read-only, permission), "corrupt", "other".
  std::map<std::string, uint64_t> errors;
  uint64_t commits = 0;              // successful write transactions
  double commit_seconds_sum = 0;     // their total duration (BEGIN .. COMMIT, fsync included)
  int64_t database_bytes = 0;        // size of the database file
  int64_t wal_bytes = 0;             // size of its -wal file (0 if none)
  int64_t free_bytes = -1;           // free space for unprivileged users in its directory
  double retention_lag_seconds = 0;  // age of the oldest result beyond `retention` (0: none)
};

struct StoreOptions {
  // "sqlite" (default; uses `path`) or "postgres" (uses `dsn`, a libpq
  // connection string; its password is never logged).
  std::string driver = "sqlite";
  std::string path;  // ":memory:" is not supported
  std::string dsn;
  // PostgreSQL: width of one results partition (by ts_ms); retention drops
  // whole partitions older than `retention`.
  std::chrono::milliseconds partition_width = std::chrono::hours(24);
  std::chrono::milliseconds retention = std::chrono::hours(24 * 14);  // 0: keep forever
  // Run compaction (see the contract above). Off: every result is stored whole.
  bool compaction = true;
  // How long the changes (results rows) are kept when compaction is on; 0: forever.
  std::chrono::milliseconds change_retention = std::chrono::hours(24 * 90);
  std::chrono::milliseconds retention_sweep_every = std::chrono::minutes(1);
  size_t max_batch_results = 5000;  // results per transaction at most (a larger
                                    // single submission still commits whole)
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);  // both connections
  // Group commit: when busy (a commit ended < 100 ms ago) and fewer than
  // max_batch_results results are queued, the writer waits up to this long
  // for more before it begins a transaction, so several streams' batches share
  // one fsync. Adds at most this much to the ack latency. 0: off.
  std::chrono::milliseconds group_commit_wait = std::chrono::milliseconds(10);
  int64_t retention_chunk_rows = 10000;  // rows deleted per retention transaction
  // After SQLite's own busy wait, a busy transaction is retried with backoff
  // (100 ms doubling up to 2 s) until this much time passed since its first try.
  std::chrono::milliseconds busy_retry = std::chrono::seconds(10);
  // Incidents closed longer ago than this are deleted (0: keep forever).
  std::chrono::milliseconds incident_retention = std::chrono::hours(24 * 365);
  // Stats (file sizes, free space, retention lag) are refreshed and a PASSIVE
  // WAL checkpoint runs at this period, on the writer thread.
  std::chrono::milliseconds stats_every = std::chrono::seconds(5);
  // Called on the writer thread: after each successful write transaction with
  // its duration, and after each stats refresh. Must be quick; may be empty.
  std::function<void(double seconds)> on_commit;
  std::function<void(const StoreStats&)> on_stats;
};

struct CommitInfo {
  Status status;               // not ok: nothing of this submission was stored
  uint64_t committed_seq = 0;  // highest committed seq of the boot after this commit
  int stored = 0;
  int duplicates = 0;
  // The submitted results, sorted by seq: the last `stored` of them are the
  // ones stored (duplicates come first). Valid only during the callback; null
  // when the commit failed. Saves the caller a copy of what it submitted.
  const std::vector<v1::CheckResult>* results = nullptr;
};

struct ProbeRecord {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string version;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
};

struct TargetRecord {
  std::string name;
  std::string host;
  uint32_t port = 22;
  std::map<std::string, std::string> labels;
};

// One stored result, as read back.
struct ResultRow {
  std::string probe;
  std::string target;
  std::string boot_id;
  // seq, outcome, times, address, identification, pre_banner, detail...;
  // started_unix_ms is the probe's clock, collector_started_unix_ms and
  // received_unix_ms the collector's (both 0 for rows stored before schema
  // version 3, whose started_unix_ms is then the only time known).
  v1::CheckResult result;
};

// One run: consecutive scheduled results of one probe x target pair with one
// outcome within one probe boot (see "Run compaction" above). Times are
// ts_ms (the collector's clock); the latency is connect_us.
struct RunRecord {
  std::string probe;
  std::string target;
  std::string boot_id;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  int64_t count = 0;
  int64_t connect_min_us = 0;
  int64_t connect_sum_us = 0;  // mean = sum / count
  int64_t connect_max_us = 0;
};

// One cause change of an incident (the first is the opening cause; closing
// adds a change to CAUSE_OK).
struct IncidentChangeRecord {
  int64_t at_ms = 0;
  v1::Cause cause = v1::CAUSE_UNSPECIFIED;
  std::string summary;
};

// A period during which a target was away from ok.
struct IncidentRecord {
  int64_t id = 0;
  std::string target;
  v1::Cause cause = v1::CAUSE_UNSPECIFIED;  // the latest failure cause
  int64_t opened_ms = 0;
  int64_t closed_ms = 0;                      // 0 while open
  std::string summary;                        // of the latest failure cause
  std::vector<IncidentChangeRecord> changes;  // oldest first
};

// Start of the Status message when Open() finds the database file damaged
// (quick_check failed, or not a database): the collector exits with a
// distinct code instead of restarting on it.
inline constexpr char kDamagedDatabase[] = "database file is damaged:";

class Store {
 public:
  using CommitCallback = std::function<void(const CommitInfo&)>;

  // Opens the database of options.driver (an unknown driver is an
  // InvalidArgument naming it). SQLite: opens (creating if needed), checks
  // (PRAGMA quick_check: a damaged file is refused with a message starting
  // with kDamagedDatabase) and migrates the database, starts the writer. The WAL is bounded:
  // journal_size_limit 64 MiB, a PASSIVE checkpoint every `stats_every`.
  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  // Flushes every submitted write, then stops the writer thread.
  virtual ~Store() = default;

  // Queues results of one probe boot for the next transaction.
  virtual void SubmitResults(const std::string& probe, const std::string& boot_id,
                             std::vector<v1::CheckResult> results, CommitCallback done) = 0;
  // Queues an upsert of a probe (labels, version, first/last seen).
  virtual void RecordProbe(const ProbeRecord& probe) = 0;
  // Queues an upsert of the configured targets (others are kept, for history).
  virtual void SyncTargets(const std::vector<TargetRecord>& targets) = 0;
  // Blocks until everything submitted before the call is committed.
  virtual void Flush() = 0;

  // True when several collectors may share this database (PostgreSQL): the
  // committed marks and newest results may change behind this collector's
  // back, and leadership (collector/server/leadership.h) decides who runs
  // the diagnosis. SQLite: false.
  virtual bool shared() const { return false; }

  // Highest committed seq of (probe, boot_id), 0 if none. SQLite: from
  // memory, never touches the database, safe to call from a gRPC reaction.
  // Shared stores read it through (probe_boots.max_seq: one indexed query on
  // the reader's connection; the cached mark if that fails) and contiguous
  // commits continue from it. This is the resume
  // point a new stream tells its probe (Welcome): after a failed transaction
  // of the boot, submissions queued before this call are refused, those
  // after it are accepted wherever they start (see "Contiguous commits").
  virtual uint64_t CommittedSeq(const std::string& probe, const std::string& boot_id) const = 0;

  // The newest stored result of every probe x target pair, ad-hoc checks'
  // results (CheckResult.adhoc_id set) apart: those show only in History.
  virtual Status LatestResults(std::vector<ResultRow>* out) = 0;
  // Results of one target started at or after since_ms on the collector's
  // clock (collector_started_unix_ms), newest first; `probe` empty
  // = all probes; `limit` 0 = no limit.
  virtual Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                         size_t limit, std::vector<ResultRow>* out) = 0;
  virtual Status ListProbes(std::vector<ProbeRecord>* out) = 0;
  // Runs of one target last seen at or after since_ms, newest (by first_ms)
  // first; `probe` empty = all probes; `limit` 0 = no limit. A store without
  // runs returns none.
  virtual Status Runs(const std::string& target, const std::string& probe, int64_t since_ms,
                      size_t limit, std::vector<RunRecord>* out) {
    out->clear();
    return Status::Ok();
  }

  // Incidents: at most one open per target. Queued like every write.
  // OpenIncident closes a still-open incident of the target first;
  // ChangeIncident opens one if none is open; CloseIncident is a no-op then.
  virtual void OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                            const std::string& summary) = 0;
  virtual void ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                              const std::string& summary) = 0;
  virtual void CloseIncident(const std::string& target, int64_t at_ms,
                             const std::string& summary) = 0;
  // Newest (by opened_ms) first; `target` empty = all; `limit` 0 = no limit.
  virtual Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                               std::vector<IncidentRecord>* out) = 0;

  // The latest statistics (refreshed every `stats_every`). From memory;
  // safe from any thread. A store without statistics returns zeros.
  virtual StoreStats Stats() const { return {}; }

  // Host key pins (target -> fingerprints; HostKeyPins). Written at once,
  // outside the result queue (they are rare: first use, `hostkey accept`);
  // empty fingerprints delete the pin. A store without them keeps nothing.
  virtual Status LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) {
    out->clear();
    return Status::Ok();
  }
  virtual Status SaveHostKeyPins(const std::string& target,
                                 const std::vector<std::string>& fingerprints, int64_t at_ms) {
    return Status::Ok();
  }
};

}  // namespace parallax::collector
