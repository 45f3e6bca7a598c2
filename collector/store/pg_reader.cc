#include "collector/store/pg_reader.h"

#include <sstream>

#include "collector/store/codec.h"
#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector {

using pg::Param;

namespace {

// Names sort bytewise, as in SQLite, whatever the database's collation.
// The newest full result of every pair (latest_results, schema version 2).
const std::string kLatestSql =
    "SELECT p.name, t.name, b.boot_id, l.result FROM latest_results l"
    " JOIN probes p ON p.id = l.probe_id JOIN targets t ON t.id = l.target_id"
    " JOIN probe_boots b ON b.id = l.boot_ref"
    " ORDER BY t.name COLLATE \"C\", p.name COLLATE \"C\"";

const std::string kNewestOfTargetSql =
    "SELECT p.name, t.name, b.boot_id, l.result FROM targets t"
    " JOIN latest_results l ON l.target_id = t.id JOIN probes p ON p.id = l.probe_id"
    " JOIN probe_boots b ON b.id = l.boot_ref"
    " WHERE t.name = $1 AND ($2 = '' OR p.name = $2) AND l.ts_ms >= $3";

const std::string kRunsSql =
    "SELECT p.name, t.name, b.boot_id, r.outcome, r.first_seq, r.last_seq, r.first_ms,"
    " r.last_ms, r.count, r.connect_min_us, r.connect_sum_us, r.connect_max_us"
    " FROM targets t JOIN runs r ON r.target_id = t.id JOIN probes p ON p.id = r.probe_id"
    " JOIN probe_boots b ON b.id = r.boot_ref"
    " WHERE t.name = $1 AND ($2 = '' OR p.name = $2) AND r.last_ms >= $3"
    " ORDER BY r.first_ms DESC, r.id DESC LIMIT $4::bigint";

const std::string kHistorySql = std::string("SELECT ") + kResultColumns +
                                " FROM targets t JOIN results r ON r.target_id = t.id"
                                " JOIN probes p ON p.id = r.probe_id"
                                " JOIN probe_boots b ON b.id = r.boot_ref"
                                " WHERE t.name = $1 AND ($2 = '' OR p.name = $2)"
                                " AND r.ts_ms >= $3"
                                " ORDER BY r.ts_ms DESC, r.id DESC LIMIT $4::bigint";

class PgColumns : public RowColumns {
 public:
  PgColumns(const pg::Result& r, int row) : r_(r), row_(row) {}
  std::string Text(int col) const override { return r_.Text(row_, col); }
  int64_t Int(int col) const override { return r_.Int(row_, col); }
  bool IsNull(int col) const override { return r_.IsNull(row_, col); }
  std::string Blob(int col) const override { return r_.Bytes(row_, col); }

 private:
  const pg::Result& r_;
  int row_;
};

}  // namespace

Status PgReader::Open(const std::string& dsn, std::unique_ptr<PgReader>* out) {
  std::unique_ptr<PgReader> r(new PgReader());
  r->dsn_ = dsn;
  Status s = r->conn_.Connect(dsn, 10);
  if (!s.ok()) return s;
  *out = std::move(r);
  return Status::Ok();
}

Status PgReader::Ensure() {
  if (conn_.Healthy()) return Status::Ok();
  return conn_.Connect(dsn_, 10);
}

Status PgReader::Query(const std::string& sql, const std::vector<Param>& params, pg::Result* out) {
  Status s = Ensure();
  if (!s.ok()) return s;
  s = conn_.Query(sql, params, out);
  // A connection that broke since the last call shows only now: retry once
  // on a new one.
  if (!s.ok() && pg::IsConnectionError(s)) {
    s = conn_.Connect(dsn_, 10);
    if (s.ok()) s = conn_.Query(sql, params, out);
  }
  return s;
}

Status PgReader::ReadRows(const pg::Result& r, std::vector<ResultRow>* out) {
  out->clear();
  for (int i = 0; i < r.Rows(); ++i) {
    ResultRow row;
    Status s = ReadResultRow(PgColumns(r, i), &row);
    if (!s.ok()) return s;
    out->push_back(std::move(row));
  }
  return Status::Ok();
}

Status PgReader::ReadCommittedSeq(const std::string& probe, const std::string& boot_id,
                                  uint64_t* out) {
  std::lock_guard<std::mutex> lock(mu_);
  pg::Result r;
  Status s = Query(
      "SELECT b.max_seq FROM probe_boots b JOIN probes p ON p.id = b.probe_id"
      " WHERE p.name = $1 AND b.boot_id = $2",
      {Param::Text(pg::ToPgText(probe)), Param::Text(pg::ToPgText(boot_id))}, &r);
  if (!s.ok()) return s;
  *out = r.Rows() > 0 ? static_cast<uint64_t>(r.Int(0, 0)) : 0;
  return Status::Ok();
}

Status PgReader::LatestResults(std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  pg::Result r;
  Status s = Query(kLatestSql, {}, &r);
  if (!s.ok()) return s;
  return ParseLatest(r, out);
}

Status PgReader::ParseLatest(const pg::Result& r, std::vector<ResultRow>* out) {
  out->clear();
  for (int i = 0; i < r.Rows(); ++i) {
    ResultRow row;
    row.probe = r.Text(i, 0);
    row.target = r.Text(i, 1);
    row.boot_id = r.Text(i, 2);
    if (!row.result.ParseFromString(r.Bytes(i, 3))) {
      // Text no protobuf string may hold (invalid UTF-8 from a broken
      // probe): the results row of that check (stored escaped) is what
      // history shows; the live state skips it.
      Logf(LogLevel::kWarning,
           "store: latest_results: a result of probe %s does not parse; skipped",
           EscapeForTerminal(row.probe).c_str());
      continue;
    }
    out->push_back(std::move(row));
  }
  return Status::Ok();
}

Status PgReader::Runs(const std::string& target, const std::string& probe, int64_t since_ms,
                      size_t limit, std::vector<RunRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  pg::Result r;
  Status s = Query(
      kRunsSql,
      {Param::Text(pg::ToPgText(target)), Param::Text(pg::ToPgText(probe)), Param::Int(since_ms),
       limit == 0 ? Param::Null() : Param::Int(static_cast<int64_t>(limit))},
      &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    RunRecord run;
    run.probe = r.Text(i, 0);
    run.target = r.Text(i, 1);
    run.boot_id = r.Text(i, 2);
    run.outcome = static_cast<v1::Outcome>(r.Int(i, 3));
    run.first_seq = static_cast<uint64_t>(r.Int(i, 4));
    run.last_seq = static_cast<uint64_t>(r.Int(i, 5));
    run.first_ms = r.Int(i, 6);
    run.last_ms = r.Int(i, 7);
    run.count = r.Int(i, 8);
    run.connect_min_us = r.Int(i, 9);
    run.connect_sum_us = r.Int(i, 10);
    run.connect_max_us = r.Int(i, 11);
    out->push_back(std::move(run));
  }
  return Status::Ok();
}

Status PgReader::History(const std::string& target, const std::string& probe, int64_t since_ms,
                         size_t limit, std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  pg::Result r;
  Status s = Query(
      kHistorySql,
      {Param::Text(pg::ToPgText(target)), Param::Text(pg::ToPgText(probe)), Param::Int(since_ms),
       limit == 0 ? Param::Null() : Param::Int(static_cast<int64_t>(limit))},
      &r);
  if (!s.ok()) return s;
  s = ReadRows(r, out);
  if (!s.ok()) return s;
  // With run compaction the newest check of a pair is not a results row
  // (unless it was a change): add it from latest_results.
  pg::Result n;
  s = Query(
      kNewestOfTargetSql,
      {Param::Text(pg::ToPgText(target)), Param::Text(pg::ToPgText(probe)), Param::Int(since_ms)},
      &n);
  if (!s.ok()) return s;
  std::vector<ResultRow> newest;
  s = ParseLatest(n, &newest);
  if (!s.ok()) return s;
  MergeNewestIntoHistory(std::move(newest), limit, out);
  return Status::Ok();
}

Status PgReader::ListProbes(std::vector<ProbeRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  pg::Result r;
  Status s = Query(
      "SELECT name, labels, version, first_seen_ms, last_seen_ms FROM probes"
      " ORDER BY name COLLATE \"C\"",
      {}, &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    ProbeRecord p;
    p.name = r.Text(i, 0);
    s = LabelsFromJson(r.Text(i, 1), &p.labels);
    if (!s.ok()) return Status::Internal("probe \"" + p.name + "\": " + s.message());
    p.version = r.Text(i, 2);
    p.first_seen_ms = r.Int(i, 3);
    p.last_seen_ms = r.Int(i, 4);
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

Status PgReader::ListIncidents(const std::string& target, bool open_only, size_t limit,
                               std::vector<IncidentRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  pg::Result r;
  // One statement: incidents and their changes from one snapshot.
  Status s = Query(
      "WITH i AS (SELECT i.id, t.name, i.cause, i.opened_ms, i.closed_ms, i.summary"
      "   FROM incidents i JOIN targets t ON t.id = i.target_id"
      "   WHERE ($1 = '' OR t.name = $1) AND ($2 = 0 OR i.closed_ms = 0)"
      "   ORDER BY i.opened_ms DESC, i.id DESC LIMIT $3::bigint)"
      " SELECT i.id, i.name, i.cause, i.opened_ms, i.closed_ms, i.summary,"
      "   c.at_ms, c.cause, c.summary"
      " FROM i LEFT JOIN incident_changes c ON c.incident_id = i.id"
      " ORDER BY i.opened_ms DESC, i.id DESC, c.at_ms, c.id",
      {Param::Text(pg::ToPgText(target)), Param::Int(open_only ? 1 : 0),
       limit == 0 ? Param::Null() : Param::Int(static_cast<int64_t>(limit))},
      &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    const int64_t id = r.Int(i, 0);
    if (out->empty() || out->back().id != id) {
      IncidentRecord rec;
      rec.id = id;
      rec.target = r.Text(i, 1);
      rec.cause = static_cast<v1::Cause>(r.Int(i, 2));
      rec.opened_ms = r.Int(i, 3);
      rec.closed_ms = r.Int(i, 4);
      rec.summary = r.Text(i, 5);
      out->push_back(std::move(rec));
    }
    if (!r.IsNull(i, 6)) {
      out->back().changes.push_back(
          {r.Int(i, 6), static_cast<v1::Cause>(r.Int(i, 7)), r.Text(i, 8)});
    }
  }
  return Status::Ok();
}

Status PgReader::LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  pg::Result r;
  Status s = Query("SELECT target, fingerprints FROM host_key_pins", {}, &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    std::istringstream in(r.Text(i, 1));
    std::vector<std::string> fps;
    for (std::string fp; in >> fp;) fps.push_back(fp);
    if (!fps.empty()) (*out)[r.Text(i, 0)] = std::move(fps);
  }
  return Status::Ok();
}

Status PgReader::SaveHostKeyPins(const std::string& target,
                                 const std::vector<std::string>& fingerprints, int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fingerprints.empty()) {
    return Query("DELETE FROM host_key_pins WHERE target = $1", {Param::Text(pg::ToPgText(target))},
                 nullptr);
  }
  std::string joined;
  for (const std::string& fp : fingerprints) joined += (joined.empty() ? "" : " ") + fp;
  return Query(
      "INSERT INTO host_key_pins (target, fingerprints, pinned_ms) VALUES ($1, $2, $3)"
      " ON CONFLICT (target) DO UPDATE SET fingerprints = EXCLUDED.fingerprints,"
      " pinned_ms = EXCLUDED.pinned_ms",
      {Param::Text(pg::ToPgText(target)), Param::Text(pg::ToPgText(joined)), Param::Int(at_ms)},
      nullptr);
}

}  // namespace parallax::collector
