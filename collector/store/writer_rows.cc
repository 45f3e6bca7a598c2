// Writer: upserts of probes and targets, and name/boot -> row id lookups
// (cached; the caches are dropped on rollback). See writer.h.
#include "collector/store/codec.h"
#include "collector/store/writer.h"

namespace parallax::collector {

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

}  // namespace parallax::collector
