#include "collector/store/writer.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>

#include "collector/store/codec.h"
#include "collector/store/schema.h"
#include "common/clock.h"
#include "common/log.h"

namespace parallax::collector {
namespace {

int64_t NowMs() { return WallClockMs(); }

Status Damaged(const std::string& path, const std::string& why) {
  return Status::IoError(std::string(kDamagedDatabase) + " \"" + path + "\" (" + why +
                         "); refusing to start on it. Stop the collector, keep a copy, then "
                         "recover what is readable into a new file: sqlite3 '" +
                         path + "' .recover | sqlite3 '" + path +
                         ".recovered' and put it in place of "
                         "the damaged file (or point storage.path elsewhere to start empty)");
}

// PRAGMA quick_check: "ok", or up to a few lines naming the damage.
Status QuickCheck(sqlite::Db* db, const std::string& path) {
  sqlite::Statement st;
  Status s = st.Prepare(db->get(), "PRAGMA quick_check(5)");
  if (!s.ok()) return Damaged(path, s.message());
  std::string problems;
  bool row = false;
  while ((s = st.Step(&row)).ok() && row) {
    std::string line = st.ColumnText(0);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  if (!s.ok()) {
    const int code = sqlite::CodeOf(s) & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return s;
    return Damaged(path, "quick_check: " + s.message());
  }
  if (!problems.empty()) return Damaged(path, "quick_check: " + problems);
  return Status::Ok();
}

}  // namespace

Status Writer::Open(const std::string& path, std::chrono::milliseconds busy_timeout,
                    std::unique_ptr<Writer>* out) {
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  Status s = w->db_.Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!s.ok()) return s;
  sqlite3_busy_timeout(w->db_.get(), static_cast<int>(busy_timeout.count()));
  // journal_mode returns a row; a non-database file fails here first.
  int64_t ignored = 0;
  s = w->db_.QueryInt("PRAGMA journal_mode=WAL", &ignored);
  if (!s.ok()) {
    const int code = sqlite::CodeOf(s) & 0xff;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return Damaged(path, s.message());
    return Status::IoError("database \"" + path + "\": " + s.message());
  }
  s = QuickCheck(&w->db_, path);
  if (!s.ok()) return s;
  // The WAL is truncated to 64 MiB after each checkpoint that resets it; the
  // Store runs a PASSIVE checkpoint periodically on top of SQLite's automatic
  // one every 1000 pages.
  s = w->db_.Exec(
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864;"
      " PRAGMA wal_autocheckpoint=1000");
  if (!s.ok()) return s;
  s = Migrate(&w->db_, path);
  if (!s.ok()) return s;
  s = w->Prepare();
  if (!s.ok()) return s;
  *out = std::move(w);
  return Status::Ok();
}

Status Writer::Prepare() {
  sqlite3* db = db_.get();
  const std::pair<sqlite::Statement*, std::string> stmts[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&select_probe_, "SELECT id FROM probes WHERE name = ?1"},
      {&insert_probe_name_,
       "INSERT INTO probes (name, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2)"},
      {&upsert_probe_,
       "INSERT INTO probes (name, labels, version, first_seen_ms, last_seen_ms)"
       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET"
       " labels = excluded.labels, version = excluded.version,"
       " first_seen_ms = MIN(first_seen_ms, excluded.first_seen_ms),"
       " last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)"},
      {&select_target_, "SELECT id FROM targets WHERE name = ?1"},
      {&insert_target_name_, "INSERT INTO targets (name, updated_ms) VALUES (?1, ?2)"},
      {&upsert_target_,
       "INSERT INTO targets (name, host, port, labels, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)"
       " ON CONFLICT (name) DO UPDATE SET host = excluded.host, port = excluded.port,"
       " labels = excluded.labels, updated_ms = excluded.updated_ms"},
      {&select_boot_, "SELECT id, max_seq FROM probe_boots WHERE probe_id = ?1 AND boot_id = ?2"},
      {&insert_boot_, "INSERT INTO probe_boots (probe_id, boot_id, max_seq) VALUES (?1, ?2, 0)"},
      {&update_boot_, "UPDATE probe_boots SET max_seq = ?2 WHERE id = ?1"},
      {&insert_result_,
       "INSERT INTO results (probe_id, target_id, boot_ref, seq, ts_ms, outcome, connect_us,"
       " banner_us, address, error_number, identification, pre_banner, detail, liveness,"
       " late_us, probe_ts_ms, received_ms, adhoc_id)"
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
       " ?18)"},
      {&delete_old_,
       "DELETE FROM results WHERE id IN"
       " (SELECT id FROM results WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)"},
      {&select_old_incidents_,
       "SELECT id FROM incidents WHERE opened_ms < ?1 AND closed_ms != 0 AND closed_ms < ?1"
       " ORDER BY opened_ms LIMIT ?2"},
      {&delete_incident_changes_, "DELETE FROM incident_changes WHERE incident_id = ?1"},
      {&delete_incident_, "DELETE FROM incidents WHERE id = ?1"},
      {&oldest_result_, "SELECT MIN(ts_ms) FROM results"},
      {&select_expired_probes_,
       "SELECT p.id, p.name FROM probes p WHERE p.last_seen_ms < ?1 AND NOT EXISTS"
       " (SELECT 1 FROM results r WHERE r.probe_id = p.id) AND NOT EXISTS"
       " (SELECT 1 FROM runs u WHERE u.probe_id = p.id) LIMIT ?2"},
      {&delete_probe_boots_, "DELETE FROM probe_boots WHERE probe_id = ?1"},
      {&delete_probe_latest_, "DELETE FROM latest_results WHERE probe_id = ?1"},
      {&select_run_,
       "SELECT id, boot_ref, outcome, first_seq, last_seq, first_ms, last_ms, count,"
       " connect_min_us, connect_sum_us, connect_max_us FROM runs INDEXED BY runs_probe_target"
       " WHERE probe_id = ?1 AND target_id = ?2 ORDER BY id DESC LIMIT 1"},
      {&insert_run_,
       "INSERT INTO runs (probe_id, target_id, boot_ref, outcome, first_seq, last_seq, first_ms,"
       " last_ms, count, connect_min_us, connect_sum_us, connect_max_us)"
       " VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"},
      {&update_run_,
       "UPDATE runs SET last_seq = ?7, last_ms = ?9, count = ?10, connect_min_us = ?11,"
       " connect_sum_us = ?12, connect_max_us = ?13 WHERE id = ?1"},
      {&upsert_latest_,
       "INSERT INTO latest_results (probe_id, target_id, boot_ref, seq, ts_ms, outcome,"
       " connect_us, banner_us, address, error_number, identification, pre_banner, detail,"
       " liveness, late_us, probe_ts_ms, received_ms, adhoc_id)"
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
       " ?18) ON CONFLICT (probe_id, target_id) DO UPDATE SET boot_ref = excluded.boot_ref,"
       " seq = excluded.seq, ts_ms = excluded.ts_ms, outcome = excluded.outcome,"
       " connect_us = excluded.connect_us, banner_us = excluded.banner_us,"
       " address = excluded.address, error_number = excluded.error_number,"
       " identification = excluded.identification, pre_banner = excluded.pre_banner,"
       " detail = excluded.detail, liveness = excluded.liveness, late_us = excluded.late_us,"
       " probe_ts_ms = excluded.probe_ts_ms, received_ms = excluded.received_ms,"
       " adhoc_id = excluded.adhoc_id WHERE excluded.ts_ms >= latest_results.ts_ms"},
      {&delete_runs_,
       "DELETE FROM runs WHERE id IN (SELECT id FROM runs INDEXED BY runs_first"
       " WHERE first_ms < ?1 AND last_ms < ?1 LIMIT ?2)"},
      {&delete_old_latest_, "DELETE FROM latest_results WHERE ts_ms < ?1"},
      {&delete_probe_, "DELETE FROM probes WHERE id = ?1"},
      {&open_incident_,
       "SELECT id FROM incidents WHERE target_id = ?1 AND closed_ms = 0"
       " ORDER BY opened_ms DESC, id DESC LIMIT 1"},
      {&insert_incident_,
       "INSERT INTO incidents (target_id, cause, opened_ms, summary) VALUES (?1, ?2, ?3, ?4)"},
      {&update_incident_, "UPDATE incidents SET cause = ?2, summary = ?3 WHERE id = ?1"},
      {&close_incident_, "UPDATE incidents SET closed_ms = ?2 WHERE id = ?1"},
      {&insert_change_,
       "INSERT INTO incident_changes (incident_id, at_ms, cause, summary)"
       " VALUES (?1, ?2, ?3, ?4)"},
  };
  for (const auto& [st, sql] : stmts) {
    Status s = st->Prepare(db, sql);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Writer::LoadBoots(std::map<BootKey, uint64_t>* out) {
  sqlite::Statement st;
  Status s = st.Prepare(db_.get(),
                        "SELECT p.name, b.boot_id, b.max_seq, b.id, p.id"
                        " FROM probe_boots b JOIN probes p ON p.id = b.probe_id");
  if (!s.ok()) return s;
  bool row = false;
  while ((s = st.Step(&row)).ok() && row) {
    uint64_t max_seq = static_cast<uint64_t>(st.ColumnInt64(2));
    (*out)[{st.ColumnText(0), st.ColumnText(1)}] = max_seq;
    boots_[{st.ColumnInt64(4), st.ColumnText(1)}] = BootState{st.ColumnInt64(3), max_seq};
    probe_ids_[st.ColumnText(0)] = st.ColumnInt64(4);
  }
  return s;
}

Status Writer::Rollback(Status cause) {
  rollback_.Run();  // best effort: SQLite may have rolled back already
  probe_ids_.clear();
  target_ids_.clear();
  boots_.clear();
  pending_boots_.clear();
  pending_runs_.clear();
  pending_latest_.clear();
  return cause;
}

Status Writer::Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
                     std::map<BootKey, uint64_t>* committed) {
  infos->assign(ops.size(), CommitInfo{});
  pending_boots_.clear();
  pending_runs_.clear();
  pending_latest_.clear();
  Status s = begin_.Run();
  if (!s.ok()) return Rollback(s);
  const int64_t now_ms = NowMs();
  for (size_t i = 0; i < ops.size(); ++i) {
    s = ApplyOne(ops[i], &(*infos)[i], now_ms);
    if (!s.ok()) return Rollback(s);
    if (ops[i].kind == WriteOp::Kind::kResults) {
      (*committed)[{ops[i].probe, ops[i].boot_id}] = (*infos)[i].committed_seq;
    }
  }
  s = FlushPending();
  if (!s.ok()) return Rollback(s);
  pending_runs_.clear();
  pending_latest_.clear();
  s = commit_.Run();
  if (!s.ok()) return Rollback(s);
  for (auto& [key, state] : pending_boots_) boots_[key] = state;
  pending_boots_.clear();
  return Status::Ok();
}

Status Writer::ApplyOne(WriteOp& op, CommitInfo* info, int64_t now_ms) {
  switch (op.kind) {
    case WriteOp::Kind::kResults:
      return ApplyResults(op, info, now_ms);
    case WriteOp::Kind::kProbe:
      return ApplyProbe(op.probe_record, now_ms);
    case WriteOp::Kind::kTargets:
      return ApplyTargets(op.targets, now_ms);
    case WriteOp::Kind::kIncident:
      return ApplyIncident(op, now_ms);
  }
  return Status::Internal("unknown write operation");
}

void Writer::BindResult(sqlite::Statement* st, int64_t probe_id, int64_t target_id,
                        int64_t boot_ref, const v1::CheckResult& r) {
  st->BindInt64(1, probe_id);
  st->BindInt64(2, target_id);
  st->BindInt64(3, boot_ref);
  st->BindInt64(4, static_cast<int64_t>(r.seq()));
  // ts_ms: the collector's clock (see schema version 3).
  st->BindInt64(5, ResultTsMs(r));
  st->BindInt64(6, r.outcome());
  st->BindInt64(7, r.connect_us());
  st->BindInt64(8, r.banner_us());
  st->BindText(9, r.address());
  st->BindInt64(10, r.error_number());
  st->BindText(11, r.identification());
  if (r.pre_banner_size() > 0) {
    st->BindText(12, PreBannerToJson({r.pre_banner().begin(), r.pre_banner().end()}));
  } else {
    st->BindNull(12);
  }
  st->BindText(13, r.detail());
  if (r.has_liveness()) {
    st->BindBlob(14, r.liveness().SerializeAsString());
  } else {
    st->BindNull(14);
  }
  st->BindInt64(15, r.late_us());
  // 0 when not stamped by ingest: read back like a row from before v3.
  st->BindInt64(16, r.collector_started_unix_ms() != 0 ? r.started_unix_ms() : 0);
  st->BindInt64(17, r.received_unix_ms());
  st->BindText(18, r.adhoc_id());
}

Status Writer::InsertResult(int64_t probe_id, int64_t target_id, int64_t boot_ref,
                            const v1::CheckResult& r) {
  BindResult(&insert_result_, probe_id, target_id, boot_ref, r);
  return insert_result_.Run();
}

Status Writer::WriteRun(int64_t probe_id, int64_t target_id, RunState* run) {
  if (!run->dirty) return Status::Ok();
  sqlite::Statement& st = run->id == 0 ? insert_run_ : update_run_;
  st.BindInt64(1, run->id);
  st.BindInt64(2, probe_id);
  st.BindInt64(3, target_id);
  st.BindInt64(4, run->boot_ref);
  st.BindInt64(5, run->outcome);
  st.BindInt64(6, static_cast<int64_t>(run->first_seq));
  st.BindInt64(7, static_cast<int64_t>(run->last_seq));
  st.BindInt64(8, run->first_ms);
  st.BindInt64(9, run->last_ms);
  st.BindInt64(10, run->count);
  st.BindInt64(11, run->min_us);
  st.BindInt64(12, run->sum_us);
  st.BindInt64(13, run->max_us);
  Status s = st.Run();
  if (!s.ok()) return s;
  if (run->id == 0) run->id = sqlite3_last_insert_rowid(db_.get());
  run->dirty = false;
  return Status::Ok();
}

Status Writer::AddToRun(int64_t probe_id, int64_t target_id, int64_t boot_ref,
                        const v1::CheckResult& r) {
  const Pair pair{probe_id, target_id};
  auto it = pending_runs_.find(pair);
  if (it == pending_runs_.end()) {
    // First time in this transaction: the pair's newest run, if any.
    RunState current;
    bool found = false;
    {
      sqlite::ResetGuard guard(&select_run_);
      select_run_.BindInt64(1, probe_id);
      select_run_.BindInt64(2, target_id);
      bool row = false;
      Status s = select_run_.Step(&row);
      if (!s.ok()) return s;
      if (row) {
        found = true;
        current.id = select_run_.ColumnInt64(0);
        current.boot_ref = select_run_.ColumnInt64(1);
        current.outcome = static_cast<int>(select_run_.ColumnInt64(2));
        current.first_seq = static_cast<uint64_t>(select_run_.ColumnInt64(3));
        current.last_seq = static_cast<uint64_t>(select_run_.ColumnInt64(4));
        current.first_ms = select_run_.ColumnInt64(5);
        current.last_ms = select_run_.ColumnInt64(6);
        current.count = select_run_.ColumnInt64(7);
        current.min_us = select_run_.ColumnInt64(8);
        current.sum_us = select_run_.ColumnInt64(9);
        current.max_us = select_run_.ColumnInt64(10);
      }
    }
    if (found) it = pending_runs_.emplace(pair, current).first;
  }
  if (it != pending_runs_.end() && ContinuesRun(it->second, r, boot_ref)) {
    ExtendRun(&it->second, r);
    return Status::Ok();
  }
  // A change: the run it ends is complete; the result is stored whole.
  if (it != pending_runs_.end()) {
    Status s = WriteRun(probe_id, target_id, &it->second);
    if (!s.ok()) return s;
  }
  Status s = InsertResult(probe_id, target_id, boot_ref, r);
  if (!s.ok()) return s;
  pending_runs_[pair] = StartRun(r, boot_ref);
  return Status::Ok();
}

Status Writer::FlushPending() {
  for (auto& [pair, run] : pending_runs_) {
    Status s = WriteRun(pair.first, pair.second, &run);
    if (!s.ok()) return s;
  }
  for (const auto& [pair, newest] : pending_latest_) {
    BindResult(&upsert_latest_, pair.first, pair.second, newest.boot_ref, *newest.result);
    Status s = upsert_latest_.Run();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Writer::ApplyResults(WriteOp& op, CommitInfo* info, int64_t now_ms) {
  int64_t probe_id = 0;
  Status s = ProbeId(op.probe, now_ms, &probe_id);
  if (!s.ok()) return s;
  BootState boot;
  s = Boot(probe_id, op.boot_id, &boot);
  if (!s.ok()) return s;
  // Within a submission seqs should already increase; sort to be safe.
  std::stable_sort(
      op.results.begin(), op.results.end(),
      [](const v1::CheckResult& a, const v1::CheckResult& b) { return a.seq() < b.seq(); });
  const uint64_t before = boot.max_seq;
  for (const v1::CheckResult& r : op.results) {
    if (r.seq() <= boot.max_seq) {
      ++info->duplicates;
      continue;
    }
    int64_t target_id = 0;
    s = TargetId(r.target(), now_ms, &target_id);
    if (!s.ok()) return s;
    if (!r.adhoc_id().empty() || !compaction_) {
      s = InsertResult(probe_id, target_id, boot.id, r);
    } else {
      s = AddToRun(probe_id, target_id, boot.id, r);
    }
    if (!s.ok()) return s;
    if (r.adhoc_id().empty()) {
      auto [it, inserted] = pending_latest_.try_emplace(Pair{probe_id, target_id}, Newest{});
      if (inserted || ResultTsMs(r) >= ResultTsMs(*it->second.result)) {
        it->second = Newest{boot.id, &r};
      }
    }
    boot.max_seq = r.seq();
    ++info->stored;
  }
  if (boot.max_seq != before) {
    update_boot_.BindInt64(1, boot.id);
    update_boot_.BindInt64(2, static_cast<int64_t>(boot.max_seq));
    s = update_boot_.Run();
    if (!s.ok()) return s;
  }
  pending_boots_[{probe_id, op.boot_id}] = boot;
  info->committed_seq = boot.max_seq;
  return Status::Ok();
}

Status Writer::DeleteOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = begin_.Run();
  if (!s.ok()) return Rollback(s);
  delete_old_.BindInt64(1, cutoff_ms);
  delete_old_.BindInt64(2, chunk);
  s = delete_old_.Run();
  if (!s.ok()) return Rollback(s);
  *deleted = sqlite3_changes(db_.get());
  s = commit_.Run();
  if (!s.ok()) return Rollback(s);
  return Status::Ok();
}

}  // namespace parallax::collector

namespace parallax::collector {

Status Writer::DeleteRunsOlderThan(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = begin_.Run();
  if (!s.ok()) return Rollback(s);
  delete_runs_.BindInt64(1, cutoff_ms);
  delete_runs_.BindInt64(2, chunk);
  s = delete_runs_.Run();
  if (!s.ok()) return Rollback(s);
  *deleted = sqlite3_changes(db_.get());
  if (*deleted < chunk) {
    // Pairs silent for the whole retention leave the live state too (as
    // their newest result row did before runs).
    delete_old_latest_.BindInt64(1, cutoff_ms);
    s = delete_old_latest_.Run();
    if (!s.ok()) return Rollback(s);
  }
  s = commit_.Run();
  if (!s.ok()) return Rollback(s);
  return Status::Ok();
}

Status Writer::DeleteIncidentsClosedBefore(int64_t cutoff_ms, int64_t chunk, int64_t* deleted) {
  *deleted = 0;
  Status s = begin_.Run();
  if (!s.ok()) return Rollback(s);
  std::vector<int64_t> ids;
  {
    sqlite::ResetGuard guard(&select_old_incidents_);
    select_old_incidents_.BindInt64(1, cutoff_ms);
    select_old_incidents_.BindInt64(2, chunk);
    bool row = false;
    while ((s = select_old_incidents_.Step(&row)).ok() && row) {
      ids.push_back(select_old_incidents_.ColumnInt64(0));
    }
    if (!s.ok()) return Rollback(s);
  }
  for (int64_t id : ids) {
    delete_incident_changes_.BindInt64(1, id);
    if (!(s = delete_incident_changes_.Run()).ok()) return Rollback(s);
    delete_incident_.BindInt64(1, id);
    if (!(s = delete_incident_.Run()).ok()) return Rollback(s);
  }
  s = commit_.Run();
  if (!s.ok()) return Rollback(s);
  *deleted = static_cast<int64_t>(ids.size());
  return Status::Ok();
}

Status Writer::DeleteExpiredProbes(int64_t cutoff_ms, int64_t chunk,
                                   std::vector<std::string>* names) {
  names->clear();
  Status s = begin_.Run();
  if (!s.ok()) return Rollback(s);
  std::vector<std::pair<int64_t, std::string>> expired;
  {
    sqlite::ResetGuard guard(&select_expired_probes_);
    select_expired_probes_.BindInt64(1, cutoff_ms);
    select_expired_probes_.BindInt64(2, chunk);
    bool row = false;
    while ((s = select_expired_probes_.Step(&row)).ok() && row) {
      expired.emplace_back(select_expired_probes_.ColumnInt64(0),
                           select_expired_probes_.ColumnText(1));
    }
    if (!s.ok()) return Rollback(s);
  }
  for (const auto& [id, name] : expired) {
    delete_probe_boots_.BindInt64(1, id);
    if (!(s = delete_probe_boots_.Run()).ok()) return Rollback(s);
    delete_probe_latest_.BindInt64(1, id);
    if (!(s = delete_probe_latest_.Run()).ok()) return Rollback(s);
    delete_probe_.BindInt64(1, id);
    if (!(s = delete_probe_.Run()).ok()) return Rollback(s);
  }
  s = commit_.Run();
  if (!s.ok()) return Rollback(s);
  for (const auto& [id, name] : expired) {
    probe_ids_.erase(name);
    for (auto it = boots_.begin(); it != boots_.end();) {
      it = it->first.first == id ? boots_.erase(it) : std::next(it);
    }
    names->push_back(name);
  }
  return Status::Ok();
}

Status Writer::OldestResultMs(int64_t* out) {
  *out = 0;
  sqlite::ResetGuard guard(&oldest_result_);
  bool row = false;
  Status s = oldest_result_.Step(&row);
  if (!s.ok()) return s;
  if (row && !oldest_result_.ColumnIsNull(0)) *out = oldest_result_.ColumnInt64(0);
  return Status::Ok();
}

void Writer::Maintain(StoreStats* stats) {
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
    Logf(LogLevel::kWarning, "store: WAL checkpoint failed: %s",
         sqlite::Error(db_.get(), rc, "wal checkpoint").ToString().c_str());
  }
  std::error_code ec;
  const auto db_bytes = std::filesystem::file_size(path_, ec);
  stats->database_bytes = ec ? 0 : static_cast<int64_t>(db_bytes);
  const auto wal = std::filesystem::file_size(path_ + "-wal", ec);
  stats->wal_bytes = ec ? 0 : static_cast<int64_t>(wal);
  stats->free_bytes = -1;
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  struct statvfs vfs {};
  if (statvfs(dir.empty() ? "." : dir.c_str(), &vfs) == 0) {
    stats->free_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  }
}

bool Writer::Retryable(const Status& s) const { return s.code() == Status::Code::kUnavailable; }

const char* Writer::ErrorKind(const Status& s) const {
  switch (sqlite::CodeOf(s) & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "busy";
    case SQLITE_FULL:
      return "full";
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return "io";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "corrupt";
    default:
      return "other";
  }
}

}  // namespace parallax::collector
