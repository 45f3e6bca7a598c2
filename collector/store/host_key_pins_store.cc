// SqliteStore's host key pins (store.h): a short-lived read-write connection
// per call (they are rare), waiting for the writer up to busy_timeout.
#include <sqlite3.h>

#include <sstream>

#include "collector/store/sqlite_store.h"
#include "collector/store/sqlite_util.h"

namespace parallax::collector {

Status SqliteStore::LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) {
  out->clear();
  sqlite::Db db;
  Status s = db.Open(options_.path, SQLITE_OPEN_READONLY);
  if (!s.ok()) return s;
  sqlite3_busy_timeout(db.get(), static_cast<int>(options_.busy_timeout.count()));
  sqlite::Statement st;
  s = st.Prepare(db.get(), "SELECT target, fingerprints FROM host_key_pins");
  if (!s.ok()) return s;
  bool row = false;
  while ((s = st.Step(&row)).ok() && row) {
    std::istringstream in(st.ColumnText(1));
    std::vector<std::string> fps;
    for (std::string fp; in >> fp;) fps.push_back(fp);
    if (!fps.empty()) (*out)[st.ColumnText(0)] = std::move(fps);
  }
  return s;
}

Status SqliteStore::SaveHostKeyPins(const std::string& target,
                                    const std::vector<std::string>& fingerprints, int64_t at_ms) {
  sqlite::Db db;
  Status s = db.Open(options_.path, SQLITE_OPEN_READWRITE);
  if (!s.ok()) return s;
  sqlite3_busy_timeout(db.get(), static_cast<int>(options_.busy_timeout.count()));
  sqlite::Statement st;
  if (fingerprints.empty()) {
    s = st.Prepare(db.get(), "DELETE FROM host_key_pins WHERE target = ?");
    if (!s.ok()) return s;
    st.BindText(1, target);
    return st.Run();
  }
  std::string joined;
  for (const std::string& fp : fingerprints) joined += (joined.empty() ? "" : " ") + fp;
  s = st.Prepare(db.get(),
                 "INSERT INTO host_key_pins (target, fingerprints, pinned_ms) VALUES (?, ?, ?)"
                 " ON CONFLICT(target) DO UPDATE SET fingerprints = excluded.fingerprints,"
                 " pinned_ms = excluded.pinned_ms");
  if (!s.ok()) return s;
  st.BindText(1, target);
  st.BindText(2, joined);
  st.BindInt64(3, at_ms);
  return st.Run();
}

}  // namespace parallax::collector
