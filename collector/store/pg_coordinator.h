// PgCoordinator: what several collectors sharing one PostgreSQL database
// tell each other through it (schema version 2; docs/POSTGRES.md, "Two
// collectors"), on its own connection:
//  - leadership: a session advisory lock (pg_try_advisory_lock(kLeaderLock)).
//    The holder is the leader; PostgreSQL releases the lock when the
//    holder's session ends (clean exit, crash, kill -9: the server sees the
//    socket close), so another collector's next TryLead() takes it. The
//    leader writes itself into collector_leader at each TryLead(); the others
//    read it from there.
//  - probe sessions: each collector refreshes the rows of the probes
//    connected to it (PublishSessions); a row not refreshed for a while means
//    the probe (or its collector) is gone.
//  - the newest results of all collectors: latest_results, upserted by every
//    collector's writer (pg_writer.h), which also appends the changed pairs
//    to latest_changes (schema version 4); the leader polls those by ingest
//    time (LatestSince) and prunes them behind its window.
//
// A lost connection is reopened at the next call (one attempt); a leader
// whose connection broke has lost its lock with it, so TryLead() answers
// false until it takes the lock again on a new session.
//
// Thread-safety: none; one thread (the evaluator's) uses it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/store/pg_util.h"
#include "common/status.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// A probe connected to some collector, as probe_sessions has it.
struct ProbeSessionRecord {
  std::string probe;
  std::string collector;
  std::map<std::string, std::string> labels;
  std::string version;
  std::string boot_id;
  int64_t connected_since_ms = 0;
  int64_t updated_ms = 0;
};

// A newest result of latest_results.
struct LatestResultRecord {
  std::string probe;
  int64_t ingest_ms = 0;
  v1::CheckResult result;
};

class PgCoordinator {
 public:
  // `self` names this collector (host:port) in collector_leader and
  // probe_sessions. Connects lazily: Open never fails on a server that is
  // away (the store opened it moments ago).
  PgCoordinator(std::string dsn, std::string self);

  // Takes the leader lock if free, or checks that this session still holds
  // it; the holder refreshes collector_leader (since_ms kept while it stays
  // the same collector). False on any failure (a lost connection loses the
  // lock).
  bool TryLead(int64_t now_ms);
  bool leader() const { return leader_; }
  // Drops the connection (and so the lock); the next TryLead reconnects.
  void Release();

  // collector_leader: who leads, since when, last refreshed (empty: nobody yet).
  Status ReadLeader(std::string* collector, int64_t* since_ms, int64_t* heartbeat_ms);
  // Upserts the rows of `connected` (this collector's probes) with
  // updated_ms = now_ms.
  Status PublishSessions(const std::vector<ProbeSessionRecord>& connected, int64_t now_ms);
  // Rows refreshed at or after fresh_since_ms.
  Status ReadSessions(int64_t fresh_since_ms, std::vector<ProbeSessionRecord>* out);
  // The newest results changed at ingest_ms >= since_ms (the caller
  // subtracts its overlap), oldest ingest first, each pair once; *max_ingest_ms
  // the newest seen (unchanged when none). since_ms = INT64_MIN reads every
  // row of latest_results; otherwise the pairs come from latest_changes,
  // whose rows older than since_ms - kChangesKeptMs this call deletes (so
  // only the leader may call it, with a since_ms that never goes back).
  static constexpr int64_t kChangesKeptMs = 60000;
  Status LatestSince(int64_t since_ms, std::vector<LatestResultRecord>* out,
                     int64_t* max_ingest_ms);

  const std::string& self() const { return self_; }

 private:
  Status Ensure();
  Status Query(const std::string& sql, const std::vector<pg::Param>& params, pg::Result* out);

  std::string dsn_;
  std::string self_;
  pg::Conn conn_;
  bool leader_ = false;
};

}  // namespace parallax::collector
