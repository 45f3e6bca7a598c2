#include "collector/store/schema.h"

#include <chrono>
#include <vector>

#include "common/words.h"

namespace parallax::collector {
namespace {

// Ordered migration steps; step i (0-based) brings the schema to version i+1.
// Append only: never edit a released step.
const std::vector<const char*>& Steps() {
  static const std::vector<const char*> kSteps = {
      // Version 1: the initial schema.
      R"sql(
CREATE TABLE probes (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  labels        TEXT NOT NULL DEFAULT '{}',
  version       TEXT NOT NULL DEFAULT '',
  first_seen_ms INTEGER NOT NULL DEFAULT 0,
  last_seen_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE targets (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  host       TEXT NOT NULL DEFAULT '',
  port       INTEGER NOT NULL DEFAULT 22,
  labels     TEXT NOT NULL DEFAULT '{}',
  updated_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE probe_boots (
  id       INTEGER PRIMARY KEY,
  probe_id INTEGER NOT NULL REFERENCES probes(id),
  boot_id  TEXT NOT NULL,
  max_seq  INTEGER NOT NULL DEFAULT 0,
  UNIQUE (probe_id, boot_id)
);
CREATE TABLE results (
  id             INTEGER PRIMARY KEY,
  probe_id       INTEGER NOT NULL REFERENCES probes(id),
  target_id      INTEGER NOT NULL REFERENCES targets(id),
  boot_ref       INTEGER NOT NULL REFERENCES probe_boots(id),
  seq            INTEGER NOT NULL,
  ts_ms          INTEGER NOT NULL,
  outcome        INTEGER NOT NULL,
  connect_us     INTEGER NOT NULL DEFAULT 0,
  banner_us      INTEGER NOT NULL DEFAULT 0,
  address        TEXT NOT NULL DEFAULT '',
  error_number   INTEGER NOT NULL DEFAULT 0,
  identification TEXT NOT NULL DEFAULT '',
  pre_banner     TEXT,
  detail         TEXT NOT NULL DEFAULT '',
  liveness       BLOB,
  late_us        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX results_probe_target_ts ON results (probe_id, target_id, ts_ms);
CREATE INDEX results_target_ts ON results (target_id, ts_ms);
CREATE INDEX results_ts ON results (ts_ms);
)sql",
      // Version 2: incidents (a target away from ok) and their cause changes.
      R"sql(
CREATE TABLE incidents (
  id        INTEGER PRIMARY KEY,
  target_id INTEGER NOT NULL REFERENCES targets(id),
  cause     INTEGER NOT NULL,
  opened_ms INTEGER NOT NULL,
  closed_ms INTEGER NOT NULL DEFAULT 0,
  summary   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incidents_target_opened ON incidents (target_id, opened_ms);
CREATE INDEX incidents_opened ON incidents (opened_ms);
CREATE TABLE incident_changes (
  id          INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL REFERENCES incidents(id),
  at_ms       INTEGER NOT NULL,
  cause       INTEGER NOT NULL,
  summary     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_changes_incident ON incident_changes (incident_id, at_ms);
)sql",
      // Version 3: the collector's clock decides. ts_ms becomes the check's
      // start on the collector's clock (retention, ordering and reload use
      // it); probe_ts_ms keeps the probe's own started_unix_ms for display and
      // received_ms the arrival. Older rows keep 0 there (ts_ms was the
      // probe's clock for them).
      R"sql(
ALTER TABLE results ADD COLUMN probe_ts_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN received_ms INTEGER NOT NULL DEFAULT 0;
)sql",
      // Version 4: ad-hoc checks (`parallax check`, issue 12): the request id of a result
      // that is not of a configured target's schedule ('' for the others).
      // Such rows show in history, never in the live state seeded at start.
      R"sql(
ALTER TABLE results ADD COLUMN adhoc_id TEXT NOT NULL DEFAULT '';
)sql",
      // Version 5 (issue 11): SSH host key pins, trust on first use or
      // `parallax hostkey accept`; fingerprints space-separated.
      R"sql(
CREATE TABLE host_key_pins (
  target       TEXT PRIMARY KEY,
  fingerprints TEXT NOT NULL,
  pinned_ms    INTEGER NOT NULL
);
)sql",
      // Version 6 (issue 16): run compaction (store.h). runs: one row per
      // run of a probe x target pair with one outcome within one boot
      // (connect latency min/sum/max over `count` results, seqs first..last);
      // the results rows written from now on are the changes (the first
      // result of each run) and ad-hoc results; older rows stay as they are
      // (history). latest_results: the newest full scheduled result of every
      // pair (what the collector reloads at start), seeded from results.
      R"sql(
CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  probe_id       INTEGER NOT NULL REFERENCES probes(id),
  target_id      INTEGER NOT NULL REFERENCES targets(id),
  boot_ref       INTEGER NOT NULL REFERENCES probe_boots(id),
  outcome        INTEGER NOT NULL,
  first_seq      INTEGER NOT NULL,
  last_seq       INTEGER NOT NULL,
  first_ms       INTEGER NOT NULL,
  last_ms        INTEGER NOT NULL,
  count          INTEGER NOT NULL,
  connect_min_us INTEGER NOT NULL,
  connect_sum_us INTEGER NOT NULL,
  connect_max_us INTEGER NOT NULL
);
CREATE INDEX runs_probe_target ON runs (probe_id, target_id);
CREATE INDEX runs_target_first ON runs (target_id, first_ms);
CREATE INDEX runs_first ON runs (first_ms);
CREATE TABLE latest_results (
  probe_id       INTEGER NOT NULL,
  target_id      INTEGER NOT NULL,
  boot_ref       INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  ts_ms          INTEGER NOT NULL,
  outcome        INTEGER NOT NULL,
  connect_us     INTEGER NOT NULL DEFAULT 0,
  banner_us      INTEGER NOT NULL DEFAULT 0,
  address        TEXT NOT NULL DEFAULT '',
  error_number   INTEGER NOT NULL DEFAULT 0,
  identification TEXT NOT NULL DEFAULT '',
  pre_banner     TEXT,
  detail         TEXT NOT NULL DEFAULT '',
  liveness       BLOB,
  late_us        INTEGER NOT NULL DEFAULT 0,
  probe_ts_ms    INTEGER NOT NULL DEFAULT 0,
  received_ms    INTEGER NOT NULL DEFAULT 0,
  adhoc_id       TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (probe_id, target_id)
);
CREATE INDEX latest_results_ts ON latest_results (ts_ms);
CREATE INDEX latest_results_target ON latest_results (target_id);
INSERT INTO latest_results SELECT r.probe_id, r.target_id, r.boot_ref, r.seq, r.ts_ms,
  r.outcome, r.connect_us, r.banner_us, r.address, r.error_number, r.identification,
  r.pre_banner, r.detail, r.liveness, r.late_us, r.probe_ts_ms, r.received_ms, r.adhoc_id
FROM probes p CROSS JOIN targets t
  JOIN results r ON r.id = (SELECT x.id FROM results x INDEXED BY results_probe_target_ts
    WHERE x.probe_id = p.id AND x.target_id = t.id AND x.adhoc_id = ''
    ORDER BY x.ts_ms DESC, x.id DESC LIMIT 1);
)sql",
  };
  return kSteps;
}

Status RecreateView(sqlite::Db* db) {
  std::string sql =
      "DROP VIEW IF EXISTS results_v;\n"
      "CREATE VIEW results_v AS SELECT r.id AS id, p.name AS probe, t.name AS target,\n"
      "  b.boot_id AS boot_id, r.seq AS seq, r.ts_ms AS ts_ms,\n"
      "  strftime('%Y-%m-%dT%H:%M:%fZ', r.ts_ms / 1000.0, 'unixepoch') AS time_utc,\n"
      "  " +
      OutcomeCaseSql("r.outcome") +
      " AS outcome,\n"
      "  r.connect_us AS connect_us, r.banner_us AS banner_us, r.address AS address,\n"
      "  r.error_number AS error_number, r.identification AS identification,\n"
      "  r.pre_banner AS pre_banner, r.detail AS detail, r.late_us AS late_us,\n"
      "  r.probe_ts_ms AS probe_ts_ms, r.received_ms AS received_ms,\n"
      "  r.adhoc_id AS adhoc_id\n"
      "FROM results r JOIN probes p ON p.id = r.probe_id JOIN targets t ON t.id = r.target_id\n"
      "  JOIN probe_boots b ON b.id = r.boot_ref;\n"
      "DROP VIEW IF EXISTS runs_v;\n"
      "CREATE VIEW runs_v AS SELECT r.id AS id, p.name AS probe, t.name AS target,\n"
      "  b.boot_id AS boot_id, " +
      OutcomeCaseSql("r.outcome") +
      " AS outcome,\n"
      "  strftime('%Y-%m-%dT%H:%M:%fZ', r.first_ms / 1000.0, 'unixepoch') AS first_utc,\n"
      "  strftime('%Y-%m-%dT%H:%M:%fZ', r.last_ms / 1000.0, 'unixepoch') AS last_utc,\n"
      "  r.count AS count, r.first_seq AS first_seq, r.last_seq AS last_seq,\n"
      "  r.connect_min_us AS connect_min_us, r.connect_sum_us / r.count AS connect_mean_us,\n"
      "  r.connect_max_us AS connect_max_us, r.first_ms AS first_ms, r.last_ms AS last_ms\n"
      "FROM runs r JOIN probes p ON p.id = r.probe_id JOIN targets t ON t.id = r.target_id\n"
      "  JOIN probe_boots b ON b.id = r.boot_ref;\n"
      "DROP VIEW IF EXISTS incidents_v;\n"
      "CREATE VIEW incidents_v AS SELECT i.id AS id, t.name AS target,\n"
      "  " +
      CauseCaseSql("i.cause") +
      " AS cause, i.opened_ms AS opened_ms,\n"
      "  i.closed_ms AS closed_ms, i.summary AS summary\n"
      "FROM incidents i JOIN targets t ON t.id = i.target_id;\n";
  return db->Exec(sql);
}

}  // namespace

int64_t KnownSchemaVersion() { return static_cast<int64_t>(Steps().size()); }

std::string OutcomeCaseSql(const std::string& column) {
  std::string sql = "CASE " + column;
  for (int v = v1::Outcome_MIN; v <= v1::Outcome_MAX; ++v) {
    if (!v1::Outcome_IsValid(v)) continue;
    sql += " WHEN " + std::to_string(v) + " THEN '" +
           std::string(OutcomeWord(static_cast<v1::Outcome>(v))) + "'";
  }
  sql += " ELSE 'outcome_' || " + column + " END";
  return sql;
}

std::string CauseCaseSql(const std::string& column) {
  std::string sql = "CASE " + column;
  for (int v = v1::Cause_MIN; v <= v1::Cause_MAX; ++v) {
    if (!v1::Cause_IsValid(v)) continue;
    sql += " WHEN " + std::to_string(v) + " THEN '" +
           std::string(CauseWord(static_cast<v1::Cause>(v))) + "'";
  }
  sql += " ELSE 'cause_' || " + column + " END";
  return sql;
}

Status Migrate(sqlite::Db* db, const std::string& path) {
  Status s = db->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  auto fail = [&](Status st) {
    db->Exec("ROLLBACK");
    return st;
  };
  s = db->Exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)");
  if (!s.ok()) return fail(s);
  int64_t current = 0;
  s = db->QueryInt("SELECT COALESCE(MAX(version), 0) FROM schema_version", &current);
  if (!s.ok()) return fail(s);
  const int64_t known = KnownSchemaVersion();
  if (current > known) {
    return fail(Status::InvalidArgument(
        "database \"" + path + "\" has schema version " + std::to_string(current) +
        ", newer than the " + std::to_string(known) +
        " this collector knows: upgrade the collector (or use another storage.path)"));
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (int64_t v = current + 1; v <= known; ++v) {
    s = db->Exec(Steps()[v - 1]);
    if (!s.ok()) {
      return fail(Status::Internal("migrating \"" + path + "\" to schema version " +
                                   std::to_string(v) + ": " + s.message()));
    }
    s = db->Exec("INSERT INTO schema_version (version, applied_ms) VALUES (" + std::to_string(v) +
                 ", " + std::to_string(now_ms) + ")");
    if (!s.ok()) return fail(s);
  }
  s = RecreateView(db);
  if (!s.ok()) return fail(s);
  return db->Exec("COMMIT");
}

}  // namespace parallax::collector
