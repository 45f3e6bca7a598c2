// Leadership: several collectors on one PostgreSQL database (docs/POSTGRES.md,
// "Two collectors"), exactly one of which — the leader — runs the diagnosis,
// hysteresis and incidents (the Evaluator). The others (followers) ingest,
// store and answer the queries that read the database (history, incidents,
// probes); status and explain on a follower answer which collector leads
// (QueryServiceImpl::set_follower) instead of a diagnosis it does not run.
//
// Step() runs on the evaluator's thread before every evaluation (so it is
// retried every evaluation period) and:
//  1. takes or re-checks the leader lock (PgCoordinator::TryLead: a
//     PostgreSQL session advisory lock on a dedicated connection; it dies
//     with the session, so after a crash or kill -9 of the leader another
//     collector leads within about one evaluation period, 2 at most);
//  2. refreshes probe_sessions with the probes connected here;
//  3. leader: polls the latest_results pairs that latest_changes says
//     changed since its watermark minus an overlap (PgCoordinator::
//     LatestSince; max(5 s, 2 periods): rows commit out of ingest-time order,
//     and collectors' clocks differ a little) into the LiveState
//     (LiveState::ApplyPolledResult: older or equal is a no-op), and marks
//     the probes other collectors refreshed within the stale window
//     (max(3 s, 3 periods)) connected there, those whose rows went stale
//     disconnected. On becoming leader the first poll reads everything.
//     Follower: reads who leads (collector_leader), for its answers.
//  4. sets parallax_collector_leader and whether the per-probe, per-pair and
//     diagnosis series are exported (by the leader only).
//
// Without a coordinator (SQLite: one collector) Step() always answers leader
// and does nothing else.
//
// Thread-safety: Step() from one thread; leader() and FollowerMessage() from
// any.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "collector/metrics/metrics.h"
#include "collector/state/live_state.h"
#include "collector/store/pg_coordinator.h"

namespace parallax::collector {

class Leadership {
 public:
  // `coordinator` null: always the leader (SQLite).
  Leadership(std::unique_ptr<PgCoordinator> coordinator, LiveState* state, Metrics* metrics,
             std::function<int64_t()> now_ms);

  // One step (see above); `period` is the evaluation period. Returns whether
  // this collector leads now.
  bool Step(std::chrono::milliseconds period);
  bool leader() const { return leader_.load(); }
  // "" when this collector leads (or has no peers); otherwise what a
  // follower answers status/explain with, naming the leader.
  std::string FollowerMessage() const;
  // The leader's name (HOST:PORT, as it wrote it) while this collector
  // follows; "" when it leads or no leader is known.
  std::string LeaderAddress() const;

 private:
  void PollResults(std::chrono::milliseconds period, bool first);
  void PollSessions(std::chrono::milliseconds period, int64_t now);

  std::unique_ptr<PgCoordinator> coordinator_;
  LiveState* state_;
  Metrics* metrics_;
  std::function<int64_t()> now_ms_;
  std::atomic<bool> leader_;

  // Step()'s thread only.
  bool was_leader_ = false;
  bool ever_stepped_ = false;
  int64_t watermark_ms_ = 0;
  std::set<std::string> remote_;  // probes marked connected to another collector

  mutable std::mutex mu_;
  std::string leader_name_;  // guarded by mu_: who leads, as the follower last read it
  int64_t leader_heartbeat_ms_ = 0;
};

}  // namespace parallax::collector
