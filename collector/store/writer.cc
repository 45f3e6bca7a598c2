#include "collector/store/writer.h"

#include <algorithm>

#include "collector/store/codec.h"
#include "collector/store/schema.h"

namespace parallax::collector {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  if (!s.ok()) return Status::IoError("database \"" + path + "\": " + s.message());
  s = w->db_.Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
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
       " late_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
      {&delete_old_,
       "DELETE FROM results WHERE id IN"
       " (SELECT id FROM results WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)"},
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
  return cause;
}

Status Writer::Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
                     std::map<BootKey, uint64_t>* committed) {
  infos->assign(ops.size(), CommitInfo{});
  pending_boots_.clear();
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
  }
  return Status::Internal("unknown write operation");
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
    sqlite::Statement& st = insert_result_;
    st.BindInt64(1, probe_id);
    st.BindInt64(2, target_id);
    st.BindInt64(3, boot.id);
    st.BindInt64(4, static_cast<int64_t>(r.seq()));
    st.BindInt64(5, r.started_unix_ms());
    st.BindInt64(6, r.outcome());
    st.BindInt64(7, r.connect_us());
    st.BindInt64(8, r.banner_us());
    st.BindText(9, r.address());
    st.BindInt64(10, r.error_number());
    st.BindText(11, r.identification());
    if (r.pre_banner_size() > 0) {
      st.BindText(12, PreBannerToJson({r.pre_banner().begin(), r.pre_banner().end()}));
    } else {
      st.BindNull(12);
    }
    st.BindText(13, r.detail());
    if (r.has_liveness()) {
      st.BindBlob(14, r.liveness().SerializeAsString());
    } else {
      st.BindNull(14);
    }
    st.BindInt64(15, r.late_us());
    s = st.Run();
    if (!s.ok()) return s;
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

Status Writer::ApplyProbe(const ProbeRecord& p, int64_t now_ms) {
  int64_t first = p.first_seen_ms != 0 ? p.first_seen_ms : now_ms;
  int64_t last = p.last_seen_ms != 0 ? p.last_seen_ms : first;
  upsert_probe_.BindText(1, p.name);
  upsert_probe_.BindText(2, LabelsToJson(p.labels));
  upsert_probe_.BindText(3, p.version);
  upsert_probe_.BindInt64(4, first);
  upsert_probe_.BindInt64(5, last);
  return upsert_probe_.Run();
}

Status Writer::ApplyTargets(const std::vector<TargetRecord>& targets, int64_t now_ms) {
  for (const TargetRecord& t : targets) {
    upsert_target_.BindText(1, t.name);
    upsert_target_.BindText(2, t.host);
    upsert_target_.BindInt64(3, t.port);
    upsert_target_.BindText(4, LabelsToJson(t.labels));
    upsert_target_.BindInt64(5, now_ms);
    Status s = upsert_target_.Run();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Writer::ProbeId(const std::string& name, int64_t now_ms, int64_t* id) {
  if (auto it = probe_ids_.find(name); it != probe_ids_.end()) {
    *id = it->second;
    return Status::Ok();
  }
  {
    sqlite::ResetGuard guard(&select_probe_);
    select_probe_.BindText(1, name);
    bool row = false;
    Status s = select_probe_.Step(&row);
    if (!s.ok()) return s;
    if (row) {
      *id = probe_ids_[name] = select_probe_.ColumnInt64(0);
      return Status::Ok();
    }
  }
  // Results of a probe never recorded (RecordProbe): create its row by name.
  insert_probe_name_.BindText(1, name);
  insert_probe_name_.BindInt64(2, now_ms);
  Status s = insert_probe_name_.Run();
  if (!s.ok()) return s;
  *id = probe_ids_[name] = sqlite3_last_insert_rowid(db_.get());
  return Status::Ok();
}

Status Writer::TargetId(const std::string& name, int64_t now_ms, int64_t* id) {
  if (auto it = target_ids_.find(name); it != target_ids_.end()) {
    *id = it->second;
    return Status::Ok();
  }
  {
    sqlite::ResetGuard guard(&select_target_);
    select_target_.BindText(1, name);
    bool row = false;
    Status s = select_target_.Step(&row);
    if (!s.ok()) return s;
    if (row) {
      *id = target_ids_[name] = select_target_.ColumnInt64(0);
      return Status::Ok();
    }
  }
  // A target not (or no longer) configured: keep the result, create the name.
  insert_target_name_.BindText(1, name);
  insert_target_name_.BindInt64(2, now_ms);
  Status s = insert_target_name_.Run();
  if (!s.ok()) return s;
  *id = target_ids_[name] = sqlite3_last_insert_rowid(db_.get());
  return Status::Ok();
}

Status Writer::Boot(int64_t probe_id, const std::string& boot_id, BootState* out) {
  const auto key = std::make_pair(probe_id, boot_id);
  if (auto it = pending_boots_.find(key); it != pending_boots_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  if (auto it = boots_.find(key); it != boots_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  {
    sqlite::ResetGuard guard(&select_boot_);
    select_boot_.BindInt64(1, probe_id);
    select_boot_.BindText(2, boot_id);
    bool row = false;
    Status s = select_boot_.Step(&row);
    if (!s.ok()) return s;
    if (row) {
      *out = BootState{select_boot_.ColumnInt64(0),
                       static_cast<uint64_t>(select_boot_.ColumnInt64(1))};
      return Status::Ok();
    }
  }
  insert_boot_.BindInt64(1, probe_id);
  insert_boot_.BindText(2, boot_id);
  Status s = insert_boot_.Run();
  if (!s.ok()) return s;
  *out = BootState{sqlite3_last_insert_rowid(db_.get()), 0};
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
