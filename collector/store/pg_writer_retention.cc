// PgWriter: retention (dropping expired partitions, then rows; runs in
// chunks by last seen), expired
// incidents and probes, and upkeep (partitions ahead, sizes). See pg_writer.h.
#include "collector/store/pg_writer.h"
#include "collector/store/postgres_schema.h"
#include "common/clock.h"
#include "common/log.h"

namespace parallax::collector {

using pg::Param;

Status PgWriter::DeleteOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = Ensure();
  if (!s.ok()) return s;
  std::vector<std::pair<int64_t, int64_t>> parts;
  s = pg::ListPartitions(&conn_, &parts);
  if (!s.ok()) return Fail(s);
  for (const auto& [start, end] : parts) {
    if (end > cutoff_ms) break;
    // A whole partition expired: one DROP instead of a DELETE per row.
    s = conn_.Exec("BEGIN");
    if (s.ok()) {
      s = conn_.Exec("SELECT pg_advisory_xact_lock(" + std::to_string(pg::kPartitionLock) + ")");
    }
    if (s.ok()) s = conn_.Exec("DROP TABLE IF EXISTS " + pg::PartitionName(start));
    if (s.ok()) s = conn_.Exec("COMMIT");
    if (!s.ok()) return Fail(s);
    partitions_.erase(start);
    Logf(LogLevel::kInfo, "store: retention dropped partition %s",
         pg::PartitionName(start).c_str());
    *deleted = chunk;  // more may follow
    return Status::Ok();
  }
  // The partition holding the cutoff: its older rows, one chunk at a time.
  pg::Result r;
  s = conn_.Query(
      "DELETE FROM results WHERE ts_ms < $1 AND id IN"
      " (SELECT id FROM results WHERE ts_ms < $1 ORDER BY ts_ms LIMIT $2)",
      {Param::Int(cutoff_ms), Param::Int(chunk)}, &r);
  if (!s.ok()) return Fail(s);
  *deleted = r.Affected();
  return Status::Ok();
}

Status PgWriter::DeleteRunsOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = Ensure();
  if (!s.ok()) return s;
  pg::Result r;
  // runs_first finds the candidates; a live run (last seen recently) that
  // began before the cutoff is passed over.
  s = conn_.Query(
      "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE first_ms < $1 AND last_ms < $1"
      " LIMIT $2)",
      {Param::Int(cutoff_ms), Param::Int(chunk)}, &r);
  if (!s.ok()) return Fail(s);
  *deleted = r.Affected();
  if (*deleted < chunk) {
    // Pairs silent for the whole retention leave the live state too.
    s = conn_.Query("DELETE FROM latest_results WHERE ts_ms < $1", {Param::Int(cutoff_ms)}, &r);
    if (!s.ok()) return Fail(s);
  }
  return Status::Ok();
}

Status PgWriter::DeleteIncidentsClosedBefore(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = Ensure();
  if (!s.ok()) return s;
  pg::Result r;
  s = conn_.Query(
      "WITH old AS (SELECT id FROM incidents WHERE opened_ms < $1 AND closed_ms != 0"
      "   AND closed_ms < $1 ORDER BY opened_ms LIMIT $2),"
      " changes AS (DELETE FROM incident_changes WHERE incident_id IN (SELECT id FROM old))"
      " DELETE FROM incidents WHERE id IN (SELECT id FROM old)",
      {Param::Int(cutoff_ms), Param::Int(chunk)}, &r);
  if (!s.ok()) return Fail(s);
  *deleted = r.Affected();
  return Status::Ok();
}

Status PgWriter::DeleteExpiredProbes(int64_t cutoff_ms, int64_t chunk,
                                     std::vector<std::string>* names) {
  names->clear();
  Status s = Ensure();
  if (!s.ok()) return s;
  pg::Result r;
  s = conn_.Query(
      "WITH old AS (SELECT p.id FROM probes p WHERE p.last_seen_ms < $1 AND NOT EXISTS"
      "   (SELECT 1 FROM results r WHERE r.probe_id = p.id) AND NOT EXISTS"
      "   (SELECT 1 FROM runs u WHERE u.probe_id = p.id) LIMIT $2),"
      " boots AS (DELETE FROM probe_boots WHERE probe_id IN (SELECT id FROM old)),"
      " latest AS (DELETE FROM latest_results WHERE probe_id IN (SELECT id FROM old))"
      " DELETE FROM probes WHERE id IN (SELECT id FROM old) RETURNING name",
      {Param::Int(cutoff_ms), Param::Int(chunk)}, &r);
  if (!s.ok()) return Fail(s);
  for (int i = 0; i < r.Rows(); ++i) {
    names->push_back(r.Text(i, 0));
    probe_ids_.erase(r.Text(i, 0));
  }
  return Status::Ok();
}

Status PgWriter::OldestResultMs(int64_t* out) {
  *out = 0;
  Status s = Ensure();
  if (!s.ok()) return s;
  pg::Result r;
  s = conn_.Exec("SELECT MIN(ts_ms) FROM results", &r);
  if (!s.ok()) return Fail(s);
  if (r.Rows() > 0) *out = r.Int(0, 0);
  return Status::Ok();
}

void PgWriter::Maintain(StoreStats* stats) {
  stats->wal_bytes = 0;    // the server's WAL is not ours to measure
  stats->free_bytes = -1;  // unknown: the disk is the server's
  if (!Ensure().ok()) return;
  const int64_t now = WallClockMs();
  std::vector<int64_t> ahead;
  for (int i = 0; i <= 2; ++i) {
    const int64_t start = pg::PartitionStart(now, width_ms_) + i * width_ms_;
    if (partitions_.count(start) == 0) ahead.push_back(start);
  }
  Status s = pg::CreatePartitions(&conn_, ahead, width_ms_);
  if (s.ok()) {
    partitions_.insert(ahead.begin(), ahead.end());
  } else {
    Logf(LogLevel::kWarning, "store: creating partitions ahead failed: %s", s.ToString().c_str());
    Fail(s);
    return;
  }
  pg::Result r;
  if (conn_.Exec("SELECT pg_database_size(current_database())", &r).ok() && r.Rows() > 0) {
    stats->database_bytes = r.Int(0, 0);
  }
}

}  // namespace parallax::collector
