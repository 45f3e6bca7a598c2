// Run compaction (store.h, "Run compaction"): the state of one run being
// extended in a write transaction, and the rules both stores apply to it.
// Pure functions on values; thread-compatible.
#pragma once

#include <algorithm>
#include <cstdint>

#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// ts_ms of a result: the collector's clock (schema version 3).
inline int64_t ResultTsMs(const v1::CheckResult& r) {
  return r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms() : r.started_unix_ms();
}

// A run row as the writer holds it (ids, not names).
struct RunState {
  int64_t id = 0;  // 0: not inserted yet
  int64_t boot_ref = 0;
  int outcome = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  int64_t count = 0;
  int64_t min_us = 0;
  int64_t sum_us = 0;
  int64_t max_us = 0;
  bool dirty = false;  // changed since read or written
};

// True when `r` (of boot `boot_ref`) continues `run` rather than starting a
// new one (a change): same outcome, same boot.
inline bool ContinuesRun(const RunState& run, const v1::CheckResult& r, int64_t boot_ref) {
  return run.outcome == static_cast<int>(r.outcome()) && run.boot_ref == boot_ref;
}

// The run that `r` starts.
inline RunState StartRun(const v1::CheckResult& r, int64_t boot_ref) {
  RunState run;
  run.boot_ref = boot_ref;
  run.outcome = r.outcome();
  run.first_seq = run.last_seq = r.seq();
  run.first_ms = run.last_ms = ResultTsMs(r);
  run.count = 1;
  run.min_us = run.sum_us = run.max_us = r.connect_us();
  run.dirty = true;
  return run;
}

// Adds `r` (which ContinuesRun) to `run`.
inline void ExtendRun(RunState* run, const v1::CheckResult& r) {
  run->last_seq = r.seq();
  run->last_ms = std::max(run->last_ms, ResultTsMs(r));
  ++run->count;
  const int64_t us = r.connect_us();
  run->min_us = std::min(run->min_us, us);
  run->max_us = std::max(run->max_us, us);
  run->sum_us += us;
  run->dirty = true;
}

}  // namespace parallax::collector
