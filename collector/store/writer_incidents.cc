// Writer: incident open/change/close (see store.h for the semantics: at most
// one open incident per target).
#include "collector/store/writer.h"

namespace parallax::collector {

Status Writer::AddIncidentChange(int64_t incident_id, v1::Cause cause, int64_t at_ms,
                                 const std::string& summary) {
  insert_change_.BindInt64(1, incident_id);
  insert_change_.BindInt64(2, at_ms);
  insert_change_.BindInt64(3, cause);
  insert_change_.BindText(4, summary);
  return insert_change_.Run();
}

Status Writer::ApplyIncident(const WriteOp& op, int64_t now_ms) {
  int64_t target_id = 0;
  Status s = TargetId(op.incident_target, now_ms, &target_id);
  if (!s.ok()) return s;
  int64_t open_id = 0;
  {
    sqlite::ResetGuard guard(&open_incident_);
    open_incident_.BindInt64(1, target_id);
    bool row = false;
    s = open_incident_.Step(&row);
    if (!s.ok()) return s;
    if (row) open_id = open_incident_.ColumnInt64(0);
  }
  using Action = WriteOp::IncidentAction;
  if (open_id != 0 &&
      (op.incident_action == Action::kClose || op.incident_action == Action::kOpen)) {
    s = AddIncidentChange(open_id, v1::CAUSE_OK, op.at_ms, op.summary);
    if (!s.ok()) return s;
    close_incident_.BindInt64(1, open_id);
    close_incident_.BindInt64(2, op.at_ms);
    s = close_incident_.Run();
    if (!s.ok()) return s;
    open_id = 0;
  }
  if (op.incident_action == Action::kClose) return Status::Ok();
  if (open_id == 0) {
    insert_incident_.BindInt64(1, target_id);
    insert_incident_.BindInt64(2, op.cause);
    insert_incident_.BindInt64(3, op.at_ms);
    insert_incident_.BindText(4, op.summary);
    s = insert_incident_.Run();
    if (!s.ok()) return s;
    return AddIncidentChange(sqlite3_last_insert_rowid(db_.get()), op.cause, op.at_ms, op.summary);
  }
  update_incident_.BindInt64(1, open_id);
  update_incident_.BindInt64(2, op.cause);
  update_incident_.BindText(3, op.summary);
  s = update_incident_.Run();
  if (!s.ok()) return s;
  return AddIncidentChange(open_id, op.cause, op.at_ms, op.summary);
}

}  // namespace parallax::collector
