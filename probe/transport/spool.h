// Spool: results the collector has not acknowledged yet, in seq order, kept
// in memory and (with a path) in a SQLite file so they outlive the process.
//
//  - Append assigns the next seq, bounds the result (BoundResult, never
//    dropped for its size), encodes it and queues it; it never touches the
//    disk. A writer thread commits what was appended since its last
//    transaction, and deletes what was acknowledged, in ONE transaction per
//    round (see spool_file.h for WAL/synchronous=NORMAL).
//  - Only results on disk are handed out for sending (with a path): a result
//    the collector stored is never lost to a probe crash, and a restarted
//    probe never reuses a seq it sent.
//  - Bounded in bytes (encoded) and, optionally, in count: beyond either, the
//    oldest results are dropped and counted (`dropped`, persisted) — the one
//    way a probe loses data, reported in heartbeats and logs.
//  - Across restarts: if the file still holds results, the probe keeps the
//    boot id and seq of the run that wrote them (boot_id(), resumed()), so
//    the collector's per-boot dedup delivers them exactly once. An empty
//    spool starts a new boot (the boot id passed in the options).
//  - The stream client sends from a cursor; cumulative acks drop the front;
//    after a reconnect the cursor rewinds to the oldest unacknowledged result.
//  - WaitBatch lingers: it returns when a batch is full (by count or bytes),
//    when `linger` has passed since a first result was ready, or on Wake().
//  - If the file cannot be written for `disk_grace`, the spool logs an error
//    and goes on in memory only (delivery beats durability); it retries the
//    file every round and is durable again once a write succeeds.
//
// Thread-safe: Append runs on the probe's io thread, the rest on the stream
// client's threads. Only WaitBatch blocks (up to its timeouts); Append takes
// a mutex held for short in-memory work only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "parallax/v1/probe.pb.h"
#include "probe/transport/spool_file.h"

namespace parallax::probe {

struct SpoolOptions {
  std::string path;                            // SQLite file; empty: memory only
  std::string probe_name;                      // stored; a file of another name starts fresh
  std::string boot_id;                         // used unless the file resumes an older one
  uint64_t max_bytes = 256ull << 20;           // encoded bytes held, at most
  uint64_t max_count = 0;                      // results held, at most (0: no count bound)
  size_t max_result_bytes = 64 << 10;          // one result, at most (BoundResult)
  std::chrono::milliseconds disk_grace{5000};  // failing file -> memory only after this
};

struct SpoolStats {
  uint64_t size = 0;      // unacknowledged results held
  uint64_t bytes = 0;     // their encoded bytes
  uint64_t appended = 0;  // last seq assigned
  uint64_t acked_through = 0;
  uint64_t dropped = 0;            // dropped because the spool was full (all runs of this boot)
  uint64_t resent = 0;             // results sent again after a rewind
  uint64_t truncated = 0;          // results cut to max_result_bytes
  uint64_t persisted_through = 0;  // highest seq on disk (or appended, memory only)
  uint64_t disk_commits = 0;
  uint64_t disk_errors = 0;
  bool durable = false;  // results are being written to the file
};

struct BatchLimits {
  size_t max_count = 1000;
  size_t max_bytes = 1 << 20;             // encoded ProbeMessage, approximately
  std::chrono::milliseconds linger{200};  // wait for more after the first result
  std::chrono::milliseconds idle{200};    // wait this long for a first result
};

class Spool {
 public:
  explicit Spool(SpoolOptions options);
  ~Spool();  // Close()s
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // With a path: opens the file, loads what it holds, starts the writer.
  // Call once, before anything else. Memory-only spools need no Open.
  Status Open();
  // Commits what is pending and stops the writer (waits up to `timeout`).
  void Close(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  const std::string& boot_id() const { return boot_id_; }
  bool resumed() const { return resumed_; }

  // Assigns the next seq to `result`, stores it, returns the seq.
  uint64_t Append(v1::CheckResult&& result);
  // Drops every result with seq <= `seq`. A seq at or beyond the next one
  // (the collector committed more of this boot than this spool knows: a
  // power loss undid the file's last writes) moves the next seq past it.
  void Ack(uint64_t seq);
  // The next WaitBatch starts again at the oldest unacknowledged result.
  void Rewind();
  // Copies ready results (unsent, and on disk) into `out` (cleared first),
  // at most `limits.max_count` and about `limits.max_bytes` (at least one),
  // and advances the cursor. See the linger rules above.
  void WaitBatch(const BatchLimits& limits, v1::ResultBatch* out);
  // Interrupts a WaitBatch (shutdown, stream broken).
  void Wake();
  SpoolStats stats() const;

 private:
  struct Item {
    uint64_t seq;
    std::string data;  // encoded CheckResult
  };
  static constexpr size_t kFraming = 8;  // per result in a ResultBatch, at most

  void WriterLoop();
  void PopFrontLocked();
  uint64_t ReadyLastLocked() const;  // highest seq that may be sent
  size_t ReadyCountLocked() const;
  // Advances the cursor over the results of the next batch and points
  // `taken` at their encodings (valid while mu_ is held); sets
  // out->dropped_through.
  void TakeLocked(const BatchLimits& limits, std::vector<const std::string*>* taken,
                  v1::ResultBatch* out);

  SpoolOptions options_;
  std::string boot_id_;
  bool resumed_ = false;
  std::unique_ptr<SpoolFile> file_;
  std::thread writer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;         // WaitBatch
  std::condition_variable writer_cv_;  // the writer
  std::deque<Item> items_;             // seqs contiguous: items_[i].seq == front seq + i
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t cursor_ = 1;       // seq of the next result to send
  uint64_t ready_bytes_ = 0;  // bytes of items in [cursor_, ReadyLast]
  uint64_t wake_epoch_ = 0;
  uint64_t highest_sent_ = 0;
  uint64_t persisted_through_ = 0;  // with a file: highest seq committed
  uint64_t persisted_front_ = 1;    // with a file: rows below this are deleted
  uint64_t persisted_dropped_ = 0;
  // Wake-ups only when they can change something (a notify per Append woke
  // the writer during its gather wait and the sender during its linger,
  // thousands of futex calls and context switches per second for nothing):
  // the writer is notified when it waits for work, the sender when it waits
  // for a first ready result or when its lingering batch becomes full.
  bool writer_idle_ = false;  // the writer waits for work
  enum class Waiter { kNone, kFirst, kLinger };
  Waiter waiter_ = Waiter::kNone;
  size_t linger_count_ = 0;      // while kLinger: the batch's count bound
  size_t linger_max_bytes_ = 0;  // and byte bound
  size_t linger_bytes_ = 0;      // ready bytes counted so far (memory only)
  bool durable_ = false;
  bool closing_ = false;
  SpoolStats stats_;
};

}  // namespace parallax::probe
