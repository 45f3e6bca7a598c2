// Reader: incident queries (see reader.h).
#include "collector/store/reader.h"

namespace parallax::collector {

Status Reader::PrepareIncidents() {
  Status s = incidents_.Prepare(db_.get(),
                                "SELECT i.id, t.name, i.cause, i.opened_ms, i.closed_ms, i.summary"
                                " FROM incidents i JOIN targets t ON t.id = i.target_id"
                                " WHERE (?1 = '' OR t.name = ?1) AND (?2 = 0 OR i.closed_ms = 0)"
                                " ORDER BY i.opened_ms DESC, i.id DESC LIMIT ?3");
  if (!s.ok()) return s;
  return changes_.Prepare(db_.get(),
                          "SELECT at_ms, cause, summary FROM incident_changes"
                          " WHERE incident_id = ?1 ORDER BY at_ms, id");
}

Status Reader::ListIncidents(const std::string& target, bool open_only, size_t limit,
                             std::vector<IncidentRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  Status s;
  {
    sqlite::ResetGuard guard(&incidents_);
    incidents_.BindText(1, target);
    incidents_.BindInt64(2, open_only ? 1 : 0);
    incidents_.BindInt64(3, limit == 0 ? -1 : static_cast<int64_t>(limit));
    bool row = false;
    while ((s = incidents_.Step(&row)).ok() && row) {
      IncidentRecord r;
      r.id = incidents_.ColumnInt64(0);
      r.target = incidents_.ColumnText(1);
      r.cause = static_cast<v1::Cause>(incidents_.ColumnInt64(2));
      r.opened_ms = incidents_.ColumnInt64(3);
      r.closed_ms = incidents_.ColumnInt64(4);
      r.summary = incidents_.ColumnText(5);
      out->push_back(std::move(r));
    }
    if (!s.ok()) return s;
  }
  // Note: each statement is its own read transaction; a change committed in
  // between shows up at worst as one extra change on an incident.
  for (IncidentRecord& r : *out) {
    sqlite::ResetGuard guard(&changes_);
    changes_.BindInt64(1, r.id);
    bool row = false;
    while ((s = changes_.Step(&row)).ok() && row) {
      r.changes.push_back({changes_.ColumnInt64(0), static_cast<v1::Cause>(changes_.ColumnInt64(1)),
                           changes_.ColumnText(2)});
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace parallax::collector
