#include "collector/store/reader.h"

#include "collector/store/codec.h"

namespace parallax::collector {

std::string LatestResultsSql() {
  return std::string("SELECT ") + kResultColumns +
         " FROM latest_results r JOIN probes p ON p.id = r.probe_id"
         " JOIN targets t ON t.id = r.target_id JOIN probe_boots b ON b.id = r.boot_ref"
         " ORDER BY t.name, p.name";
}

std::string NewestOfTargetSql() {
  return std::string("SELECT ") + kResultColumns +
         " FROM targets t JOIN latest_results r INDEXED BY latest_results_target"
         " ON r.target_id = t.id JOIN probes p ON p.id = r.probe_id"
         " JOIN probe_boots b ON b.id = r.boot_ref"
         " WHERE t.name = ?1 AND (?2 = '' OR p.name = ?2) AND r.ts_ms >= ?3";
}

std::string RunsSql() {
  return "SELECT p.name, t.name, b.boot_id, r.outcome, r.first_seq, r.last_seq, r.first_ms,"
         " r.last_ms, r.count, r.connect_min_us, r.connect_sum_us, r.connect_max_us"
         " FROM targets t JOIN runs r INDEXED BY runs_target_first ON r.target_id = t.id"
         " JOIN probes p ON p.id = r.probe_id JOIN probe_boots b ON b.id = r.boot_ref"
         " WHERE t.name = ?1 AND (?2 = '' OR p.name = ?2) AND r.last_ms >= ?3"
         " ORDER BY r.first_ms DESC, r.id DESC LIMIT ?4";
}

std::string HistorySql() {
  return std::string("SELECT ") + kResultColumns +
         " FROM targets t JOIN results r INDEXED BY results_target_ts ON r.target_id = t.id"
         " JOIN probes p ON p.id = r.probe_id JOIN probe_boots b ON b.id = r.boot_ref"
         " WHERE t.name = ?1 AND (?2 = '' OR p.name = ?2) AND r.ts_ms >= ?3"
         " ORDER BY r.ts_ms DESC, r.id DESC LIMIT ?4";
}

Status Reader::Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                    std::unique_ptr<Reader>* out) {
  std::unique_ptr<Reader> r(new Reader());
  Status s = r->db_.Open(path, SQLITE_OPEN_READONLY);
  if (!s.ok()) return s;
  sqlite3_busy_timeout(r->db_.get(), static_cast<int>(busy_timeout.count()));
  s = r->latest_.Prepare(r->db_.get(), LatestResultsSql());
  if (!s.ok()) return s;
  s = r->history_.Prepare(r->db_.get(), HistorySql());
  if (!s.ok()) return s;
  s = r->newest_.Prepare(r->db_.get(), NewestOfTargetSql());
  if (!s.ok()) return s;
  s = r->runs_.Prepare(r->db_.get(), RunsSql());
  if (!s.ok()) return s;
  s = r->probes_.Prepare(r->db_.get(),
                         "SELECT name, labels, version, first_seen_ms, last_seen_ms"
                         " FROM probes ORDER BY name");
  if (!s.ok()) return s;
  s = r->PrepareIncidents();
  if (!s.ok()) return s;
  *out = std::move(r);
  return Status::Ok();
}

Status Reader::ReadRows(sqlite::Statement* st, std::vector<ResultRow>* out) {
  out->clear();
  bool row = false;
  Status s;
  while ((s = st->Step(&row)).ok() && row) {
    ResultRow rr;
    s = ReadResultRow(*st, &rr);
    if (!s.ok()) return s;
    out->push_back(std::move(rr));
  }
  return s;
}

Status Reader::LatestResults(std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::ResetGuard guard(&latest_);
  return ReadRows(&latest_, out);
}

Status Reader::History(const std::string& target, const std::string& probe, int64_t since_ms,
                       size_t limit, std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::ResetGuard guard(&history_);
  history_.BindText(1, target);
  history_.BindText(2, probe);
  history_.BindInt64(3, since_ms);
  history_.BindInt64(4, limit == 0 ? -1 : static_cast<int64_t>(limit));
  Status s = ReadRows(&history_, out);
  if (!s.ok()) return s;
  // With run compaction the newest check of a pair is not a results row
  // (unless it was a change): add it from latest_results.
  sqlite::ResetGuard newest_guard(&newest_);
  newest_.BindText(1, target);
  newest_.BindText(2, probe);
  newest_.BindInt64(3, since_ms);
  std::vector<ResultRow> newest;
  s = ReadRows(&newest_, &newest);
  if (!s.ok()) return s;
  MergeNewestIntoHistory(std::move(newest), limit, out);
  return Status::Ok();
}

Status Reader::Runs(const std::string& target, const std::string& probe, int64_t since_ms,
                    size_t limit, std::vector<RunRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::ResetGuard guard(&runs_);
  out->clear();
  runs_.BindText(1, target);
  runs_.BindText(2, probe);
  runs_.BindInt64(3, since_ms);
  runs_.BindInt64(4, limit == 0 ? -1 : static_cast<int64_t>(limit));
  bool row = false;
  Status s;
  while ((s = runs_.Step(&row)).ok() && row) {
    RunRecord run;
    run.probe = runs_.ColumnText(0);
    run.target = runs_.ColumnText(1);
    run.boot_id = runs_.ColumnText(2);
    run.outcome = static_cast<v1::Outcome>(runs_.ColumnInt64(3));
    run.first_seq = static_cast<uint64_t>(runs_.ColumnInt64(4));
    run.last_seq = static_cast<uint64_t>(runs_.ColumnInt64(5));
    run.first_ms = runs_.ColumnInt64(6);
    run.last_ms = runs_.ColumnInt64(7);
    run.count = runs_.ColumnInt64(8);
    run.connect_min_us = runs_.ColumnInt64(9);
    run.connect_sum_us = runs_.ColumnInt64(10);
    run.connect_max_us = runs_.ColumnInt64(11);
    out->push_back(std::move(run));
  }
  return s;
}

Status Reader::ListProbes(std::vector<ProbeRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::ResetGuard guard(&probes_);
  out->clear();
  bool row = false;
  Status s;
  while ((s = probes_.Step(&row)).ok() && row) {
    ProbeRecord p;
    p.name = probes_.ColumnText(0);
    s = LabelsFromJson(probes_.ColumnText(1), &p.labels);
    if (!s.ok()) return Status::Internal("probe \"" + p.name + "\": " + s.message());
    p.version = probes_.ColumnText(2);
    p.first_seen_ms = probes_.ColumnInt64(3);
    p.last_seen_ms = probes_.ColumnInt64(4);
    out->push_back(std::move(p));
  }
  return s;
}

}  // namespace parallax::collector
