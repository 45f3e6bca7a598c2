#include "collector/store/pg_coordinator.h"

#include <algorithm>
#include <limits>

#include "collector/store/codec.h"
#include "collector/store/postgres_schema.h"
#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector {

using pg::Param;

PgCoordinator::PgCoordinator(std::string dsn, std::string self)
    : dsn_(std::move(dsn)), self_(std::move(self)) {}

Status PgCoordinator::Ensure() {
  if (conn_.Healthy()) return Status::Ok();
  leader_ = false;  // a new session holds no lock
  return conn_.Connect(dsn_, 5);
}

Status PgCoordinator::Query(const std::string& sql, const std::vector<Param>& params,
                            pg::Result* out) {
  Status s = Ensure();
  if (!s.ok()) return s;
  s = conn_.Query(sql, params, out);
  if (!s.ok() && !conn_.Healthy()) leader_ = false;
  return s;
}

void PgCoordinator::Release() {
  conn_.Close();
  leader_ = false;
}

bool PgCoordinator::TryLead(int64_t now_ms) {
  pg::Result r;
  // Holding it already: the session is alive if this query runs (a second
  // pg_try_advisory_lock would stack a second hold; don't).
  Status s = leader_ ? Query("SELECT true", {}, &r)
                     : Query("SELECT pg_try_advisory_lock(" + std::to_string(pg::kLeaderLock) + ")",
                             {}, &r);
  if (!s.ok()) {
    if (leader_ || conn_.Healthy()) {
      Logf(LogLevel::kWarning, "leadership: %s", s.ToString().c_str());
    }
    leader_ = false;
    if (!conn_.Healthy()) conn_.Close();
    return false;
  }
  leader_ = r.Rows() == 1 && r.Text(0, 0) == "t";
  if (!leader_) return false;
  s = Query(
      "INSERT INTO collector_leader (id, collector, since_ms, heartbeat_ms) VALUES (1, $1, $2, $2)"
      " ON CONFLICT (id) DO UPDATE SET collector = EXCLUDED.collector,"
      " since_ms = CASE WHEN collector_leader.collector = EXCLUDED.collector"
      "   THEN collector_leader.since_ms ELSE EXCLUDED.since_ms END,"
      " heartbeat_ms = EXCLUDED.heartbeat_ms",
      {Param::Text(pg::ToPgText(self_)), Param::Int(now_ms)}, nullptr);
  if (!s.ok()) {
    // Still the holder while the session lives; the row is for others.
    Logf(LogLevel::kWarning, "leadership: recording the leader: %s", s.ToString().c_str());
    if (!conn_.Healthy()) leader_ = false;
  }
  return leader_;
}

Status PgCoordinator::ReadLeader(std::string* collector, int64_t* since_ms, int64_t* heartbeat_ms) {
  pg::Result r;
  Status s =
      Query("SELECT collector, since_ms, heartbeat_ms FROM collector_leader WHERE id = 1", {}, &r);
  if (!s.ok()) return s;
  collector->clear();
  *since_ms = *heartbeat_ms = 0;
  if (r.Rows() == 1) {
    *collector = r.Text(0, 0);
    *since_ms = r.Int(0, 1);
    *heartbeat_ms = r.Int(0, 2);
  }
  return Status::Ok();
}

Status PgCoordinator::PublishSessions(const std::vector<ProbeSessionRecord>& connected,
                                      int64_t now_ms) {
  if (connected.empty()) return Ensure();
  pg::ArrayLiteral probes, labels, versions, boots, since;
  for (const ProbeSessionRecord& p : connected) {
    probes.Add(pg::ToPgText(p.probe));
    labels.Add(pg::ToPgText(LabelsToJson(p.labels)));
    versions.Add(pg::ToPgText(p.version));
    boots.Add(pg::ToPgText(p.boot_id));
    since.AddInt(p.connected_since_ms);
  }
  return Query(
      "INSERT INTO probe_sessions (probe, collector, labels, version, boot_id,"
      " connected_since_ms, updated_ms)"
      " SELECT u.probe, $1, u.labels, u.version, u.boot_id, u.since, $2"
      " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])"
      " AS u(probe, labels, version, boot_id, since)"
      " ON CONFLICT (probe) DO UPDATE SET collector = EXCLUDED.collector,"
      " labels = EXCLUDED.labels, version = EXCLUDED.version, boot_id = EXCLUDED.boot_id,"
      " connected_since_ms = EXCLUDED.connected_since_ms, updated_ms = EXCLUDED.updated_ms",
      {Param::Text(pg::ToPgText(self_)), Param::Int(now_ms), Param::Text(probes.Take()),
       Param::Text(labels.Take()), Param::Text(versions.Take()), Param::Text(boots.Take()),
       Param::Text(since.Take())},
      nullptr);
}

Status PgCoordinator::ReadSessions(int64_t fresh_since_ms, std::vector<ProbeSessionRecord>* out) {
  out->clear();
  pg::Result r;
  Status s = Query(
      "SELECT probe, collector, labels, version, boot_id, connected_since_ms, updated_ms"
      " FROM probe_sessions WHERE updated_ms >= $1",
      {Param::Int(fresh_since_ms)}, &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    ProbeSessionRecord p;
    p.probe = r.Text(i, 0);
    p.collector = r.Text(i, 1);
    if (!LabelsFromJson(r.Text(i, 2), &p.labels).ok()) p.labels.clear();
    p.version = r.Text(i, 3);
    p.boot_id = r.Text(i, 4);
    p.connected_since_ms = r.Int(i, 5);
    p.updated_ms = r.Int(i, 6);
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

Status PgCoordinator::LatestSince(int64_t since_ms, std::vector<LatestResultRecord>* out,
                                  int64_t* max_ingest_ms) {
  out->clear();
  pg::Result r;
  Status s;
  if (since_ms == std::numeric_limits<int64_t>::min()) {
    // Everything: one pass over the table (its ingest_ms is not indexed).
    s = Query(
        "SELECT p.name, l.ingest_ms, l.result FROM latest_results l"
        " JOIN probes p ON p.id = l.probe_id ORDER BY l.ingest_ms",
        {}, &r);
  } else {
    // What latest_changes says changed (schema version 4), each pair once,
    // read through latest_results' primary key. Rows older than the poll's
    // window by a minute are pruned first: no later poll of this leader
    // reads them, and a new leader starts with a full read.
    s = Query("DELETE FROM latest_changes WHERE ingest_ms < $1",
              {Param::Int(since_ms - kChangesKeptMs)}, nullptr);
    if (!s.ok()) return s;
    s = Query(
        "SELECT p.name, c.ingest_ms, l.result FROM (SELECT DISTINCT ON (c.probe_id, u.t)"
        " c.probe_id, u.t, c.ingest_ms FROM latest_changes c CROSS JOIN LATERAL"
        " unnest(c.target_ids) AS u(t) WHERE c.ingest_ms >= $1"
        " ORDER BY c.probe_id, u.t, c.ingest_ms DESC) c"
        " JOIN latest_results l ON l.target_id = c.t AND l.probe_id = c.probe_id"
        " JOIN probes p ON p.id = c.probe_id ORDER BY c.ingest_ms",
        {Param::Int(since_ms)}, &r);
  }
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    LatestResultRecord rec;
    rec.probe = r.Text(i, 0);
    rec.ingest_ms = r.Int(i, 1);
    if (!rec.result.ParseFromString(r.Bytes(i, 2))) {
      // One unreadable row (written by hand, or by a newer collector) must
      // not hide every other pair's result from the leader.
      Logf(LogLevel::kWarning,
           "leadership: latest_results: a result of probe %s does not parse;"
           " skipped",
           EscapeForTerminal(rec.probe).c_str());
      continue;
    }
    *max_ingest_ms = std::max(*max_ingest_ms, rec.ingest_ms);
    out->push_back(std::move(rec));
  }
  return Status::Ok();
}

}  // namespace parallax::collector
