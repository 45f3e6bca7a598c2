// Spool: results the collector has not acknowledged yet, in seq order.
//
// The probe appends every result here (assigning its seq); the stream client
// sends from a cursor and the collector's cumulative acks drop the front.
// After a reconnect the cursor rewinds so every unacknowledged result is sent
// again (the collector drops duplicates by seq). Bounded: when full, the
// oldest results are dropped and counted — the one way a probe loses data,
// reported in heartbeats and logs.
//
// Thread-safe: Append runs on the probe's io thread, the rest on the stream
// client's threads. No call blocks except WaitBatch, up to its timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "parallax/v1/probe.pb.h"

namespace parallax::probe {

struct SpoolStats {
  uint64_t size = 0;          // unacknowledged results held
  uint64_t appended = 0;      // results ever appended (= last seq)
  uint64_t acked_through = 0;
  uint64_t dropped = 0;       // dropped because the spool was full
  uint64_t resent = 0;        // results sent again after a rewind
};

class Spool {
 public:
  explicit Spool(size_t capacity);

  // Assigns the next seq (1, 2, ...) to `result`, stores it, returns the seq.
  uint64_t Append(v1::CheckResult&& result);
  // Drops every result with seq <= `seq`.
  void Ack(uint64_t seq);
  // The next Take/WaitBatch starts again at the oldest unacknowledged result.
  void Rewind();
  // Copies up to `max` unsent results into `out` (cleared first) and advances
  // the cursor; waits up to `timeout` for at least one. Returns early, with
  // what it has, when Wake() is called.
  void WaitBatch(size_t max, std::chrono::milliseconds timeout, v1::ResultBatch* out);
  // Interrupts a WaitBatch (shutdown, stream broken).
  void Wake();
  SpoolStats stats() const;

 private:
  void TakeLocked(size_t max, v1::ResultBatch* out);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::CheckResult> items_;  // seqs contiguous: items_[i].seq == front seq + i
  uint64_t next_seq_ = 1;
  uint64_t cursor_ = 1;                // seq of the next result to send
  uint64_t wake_epoch_ = 0;
  uint64_t highest_sent_ = 0;
  SpoolStats stats_;
};

}  // namespace parallax::probe
