#include "collector/store/postgres_schema.h"

#include <algorithm>
#include <cstdlib>

#include "collector/store/schema.h"
#include "common/clock.h"

namespace parallax::collector::pg {
namespace {

// Ordered migration steps; step i (0-based) brings the schema to version
// i+1. Append only: never edit a released step.
const std::vector<const char*>& Steps() {
  static const std::vector<const char*> kSteps = {
      // Version 1: everything SQLite's versions 1-5 have, results partitioned.
      R"sql(
CREATE TABLE store_settings (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
CREATE TABLE probes (
  id            BIGSERIAL PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  labels        TEXT NOT NULL DEFAULT '{}',
  version       TEXT NOT NULL DEFAULT '',
  first_seen_ms BIGINT NOT NULL DEFAULT 0,
  last_seen_ms  BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE targets (
  id         BIGSERIAL PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  host       TEXT NOT NULL DEFAULT '',
  port       INTEGER NOT NULL DEFAULT 22,
  labels     TEXT NOT NULL DEFAULT '{}',
  updated_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE probe_boots (
  id       BIGSERIAL PRIMARY KEY,
  probe_id BIGINT NOT NULL REFERENCES probes(id),
  boot_id  TEXT NOT NULL,
  max_seq  BIGINT NOT NULL DEFAULT 0,
  UNIQUE (probe_id, boot_id)
);
CREATE TABLE results (
  id             BIGINT GENERATED ALWAYS AS IDENTITY,
  probe_id       BIGINT NOT NULL,
  target_id      BIGINT NOT NULL,
  boot_ref       BIGINT NOT NULL,
  seq            BIGINT NOT NULL,
  ts_ms          BIGINT NOT NULL,
  outcome        INTEGER NOT NULL,
  connect_us     BIGINT NOT NULL DEFAULT 0,
  banner_us      BIGINT NOT NULL DEFAULT 0,
  address        TEXT NOT NULL DEFAULT '',
  error_number   INTEGER NOT NULL DEFAULT 0,
  identification TEXT NOT NULL DEFAULT '',
  pre_banner     TEXT,
  detail         TEXT NOT NULL DEFAULT '',
  liveness       BYTEA,
  late_us        BIGINT NOT NULL DEFAULT 0,
  probe_ts_ms    BIGINT NOT NULL DEFAULT 0,
  received_ms    BIGINT NOT NULL DEFAULT 0,
  adhoc_id       TEXT NOT NULL DEFAULT '',
  UNIQUE (boot_ref, seq, ts_ms)
) PARTITION BY RANGE (ts_ms);
CREATE INDEX results_probe_target_ts ON results (probe_id, target_id, ts_ms);
CREATE INDEX results_target_ts ON results (target_id, ts_ms);
CREATE INDEX results_ts ON results (ts_ms);
CREATE TABLE incidents (
  id        BIGSERIAL PRIMARY KEY,
  target_id BIGINT NOT NULL REFERENCES targets(id),
  cause     INTEGER NOT NULL,
  opened_ms BIGINT NOT NULL,
  closed_ms BIGINT NOT NULL DEFAULT 0,
  summary   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incidents_target_opened ON incidents (target_id, opened_ms);
CREATE INDEX incidents_opened ON incidents (opened_ms);
CREATE TABLE incident_changes (
  id          BIGSERIAL PRIMARY KEY,
  incident_id BIGINT NOT NULL REFERENCES incidents(id),
  at_ms       BIGINT NOT NULL,
  cause       INTEGER NOT NULL,
  summary     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_changes_incident ON incident_changes (incident_id, at_ms);
CREATE TABLE host_key_pins (
  target       TEXT PRIMARY KEY,
  fingerprints TEXT NOT NULL,
  pinned_ms    BIGINT NOT NULL
);
)sql",
      // Version 2: several collectors on one database (docs/POSTGRES.md, "Two
      // collectors"). latest_results: the newest full result (a serialized
      // v1::CheckResult) of every probe x target pair, upserted in the
      // transaction that stores the results; ingest_ms is the storing
      // collector's clock at that transaction, indexed for the leader's
      // polling. probe_sessions: which collector each probe is connected to,
      // refreshed by that collector every evaluation period (stale = gone).
      // collector_leader: who holds the leader lock, for followers' answers.
      R"sql(
CREATE TABLE latest_results (
  probe_id  BIGINT NOT NULL,
  target_id BIGINT NOT NULL,
  boot_ref  BIGINT NOT NULL,
  seq       BIGINT NOT NULL,
  ts_ms     BIGINT NOT NULL,
  ingest_ms BIGINT NOT NULL,
  result    BYTEA NOT NULL,
  PRIMARY KEY (probe_id, target_id)
);
CREATE INDEX latest_results_ingest ON latest_results (ingest_ms);
CREATE TABLE probe_sessions (
  probe              TEXT PRIMARY KEY,
  collector          TEXT NOT NULL,
  labels             TEXT NOT NULL DEFAULT '{}',
  version            TEXT NOT NULL DEFAULT '',
  boot_id            TEXT NOT NULL DEFAULT '',
  connected_since_ms BIGINT NOT NULL,
  updated_ms         BIGINT NOT NULL
);
CREATE TABLE collector_leader (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  collector    TEXT NOT NULL,
  since_ms     BIGINT NOT NULL,
  heartbeat_ms BIGINT NOT NULL
);
)sql",
      // Version 3 (issue 16): run compaction (store.h, as SQLite's version
      // 6). runs: one row per run of a probe x target pair with one outcome
      // within one boot; not partitioned (a live run spans partitions):
      // retention deletes runs last seen before `retention` in chunks. Its
      // indexes avoid the columns an extension updates, and fillfactor leaves
      // room on the page, so extending a run is a HOT update (no index
      // writes). results rows written from now on are the changes and ad-hoc
      // results (partitioned and dropped by `change_retention`); older rows
      // stay as history. latest_results (version 2) is what LatestResults reads.
      R"sql(
CREATE TABLE runs (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  probe_id       BIGINT NOT NULL,
  target_id      BIGINT NOT NULL,
  boot_ref       BIGINT NOT NULL,
  outcome        INTEGER NOT NULL,
  first_seq      BIGINT NOT NULL,
  last_seq       BIGINT NOT NULL,
  first_ms       BIGINT NOT NULL,
  last_ms        BIGINT NOT NULL,
  count          BIGINT NOT NULL,
  connect_min_us BIGINT NOT NULL,
  connect_sum_us BIGINT NOT NULL,
  connect_max_us BIGINT NOT NULL
) WITH (fillfactor = 50);
CREATE INDEX runs_probe_target ON runs (probe_id, target_id, id);
CREATE INDEX runs_target_first ON runs (target_id, first_ms);
CREATE INDEX runs_first ON runs (first_ms);
CREATE INDEX latest_results_target ON latest_results (target_id);
)sql",
      // Version 4 (issue 16, ingest rate): every latest_results upsert a
      // HOT update. Its secondary indexes go (ingest_ms changes at every
      // upsert, so indexing it made each one write every index), the primary
      // key leads with target_id (reads by target use it; the upsert's
      // ON CONFLICT (probe_id, target_id) matches it in any column order),
      // and half of each page stays free for the new row versions. The
      // leader reads what changed from latest_changes instead: one row per
      // stored submission (the storing collector's clock, the probe, the
      // targets whose newest result it carried), appended in the same
      // transaction and pruned by the leader behind its watermark.
      R"sql(
DROP INDEX latest_results_ingest;
DROP INDEX latest_results_target;
ALTER TABLE latest_results DROP CONSTRAINT latest_results_pkey,
  ADD PRIMARY KEY (target_id, probe_id);
ALTER TABLE latest_results SET (fillfactor = 50);
CREATE TABLE latest_changes (
  ingest_ms  BIGINT NOT NULL,
  probe_id   BIGINT NOT NULL,
  target_ids BIGINT[] NOT NULL
);
CREATE INDEX latest_changes_ingest ON latest_changes (ingest_ms);
INSERT INTO latest_changes (ingest_ms, probe_id, target_ids)
  SELECT ingest_ms, probe_id, array_agg(target_id) FROM latest_results
  GROUP BY ingest_ms, probe_id;
)sql",
  };
  return kSteps;
}

// Views for people reading the database (as in SQLite): names instead of
// ids, outcome and cause words, a UTC time.
std::string ViewsSql() {
  return "CREATE OR REPLACE VIEW results_v AS SELECT r.id AS id, p.name AS probe,"
         " t.name AS target, b.boot_id AS boot_id, r.seq AS seq, r.ts_ms AS ts_ms,"
         " to_char(to_timestamp(r.ts_ms / 1000.0) AT TIME ZONE 'UTC',"
         " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS time_utc, " +
         OutcomeCaseSql("r.outcome") +
         " AS outcome, r.connect_us AS connect_us, r.banner_us AS banner_us,"
         " r.address AS address, r.error_number AS error_number,"
         " r.identification AS identification, r.pre_banner AS pre_banner, r.detail AS detail,"
         " r.late_us AS late_us, r.probe_ts_ms AS probe_ts_ms, r.received_ms AS received_ms,"
         " r.adhoc_id AS adhoc_id"
         " FROM results r JOIN probes p ON p.id = r.probe_id JOIN targets t ON t.id = r.target_id"
         " JOIN probe_boots b ON b.id = r.boot_ref;"
         " CREATE OR REPLACE VIEW runs_v AS SELECT r.id AS id, p.name AS probe,"
         " t.name AS target, b.boot_id AS boot_id, " +
         OutcomeCaseSql("r.outcome") +
         " AS outcome, to_char(to_timestamp(r.first_ms / 1000.0) AT TIME ZONE 'UTC',"
         " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS first_utc,"
         " to_char(to_timestamp(r.last_ms / 1000.0) AT TIME ZONE 'UTC',"
         " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS last_utc, r.count AS count,"
         " r.first_seq AS first_seq, r.last_seq AS last_seq,"
         " r.connect_min_us AS connect_min_us, r.connect_sum_us / r.count AS connect_mean_us,"
         " r.connect_max_us AS connect_max_us, r.first_ms AS first_ms, r.last_ms AS last_ms"
         " FROM runs r JOIN probes p ON p.id = r.probe_id JOIN targets t ON t.id = r.target_id"
         " JOIN probe_boots b ON b.id = r.boot_ref;"
         " CREATE OR REPLACE VIEW incidents_v AS SELECT i.id AS id, t.name AS target, " +
         CauseCaseSql("i.cause") +
         " AS cause, i.opened_ms AS opened_ms, i.closed_ms AS closed_ms, i.summary AS summary"
         " FROM incidents i JOIN targets t ON t.id = i.target_id;";
}

Status Rollback(Conn* conn, Status cause) {
  if (conn->Healthy()) conn->Exec("ROLLBACK");
  return cause;
}

}  // namespace

int64_t KnownSchemaVersion() { return static_cast<int64_t>(Steps().size()); }

int64_t PartitionStart(int64_t ts_ms, int64_t width_ms) {
  int64_t q = ts_ms / width_ms;
  if (ts_ms % width_ms != 0 && ts_ms < 0) --q;  // floor
  return q * width_ms;
}

std::string PartitionName(int64_t start_ms) {
  return start_ms < 0 ? "results_pm" + std::to_string(-start_ms)
                      : "results_p" + std::to_string(start_ms);
}

Status Migrate(Conn* conn, int64_t width_ms, int64_t* width_out) {
  Status s = conn->Exec("BEGIN");
  if (!s.ok()) return s;
  s = conn->Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
  if (!s.ok()) return Rollback(conn, s);
  s = conn->Exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)");
  if (!s.ok()) return Rollback(conn, s);
  Result r;
  s = conn->Exec("SELECT COALESCE(MAX(version), 0) FROM schema_version", &r);
  if (!s.ok()) return Rollback(conn, s);
  const int64_t current = r.Int(0, 0);
  const int64_t known = KnownSchemaVersion();
  if (current > known) {
    return Rollback(conn, Status::InvalidArgument(
                              "database has schema version " + std::to_string(current) +
                              ", newer than the " + std::to_string(known) +
                              " this collector knows: upgrade the collector (or use another "
                              "storage.dsn)"));
  }
  const std::string now = std::to_string(WallClockMs());
  for (int64_t v = current + 1; v <= known; ++v) {
    s = conn->Exec(Steps()[v - 1]);
    if (!s.ok()) {
      return Rollback(conn, Status::Internal("migrating to schema version " + std::to_string(v) +
                                             ": " + s.message()));
    }
    if (v == 1) {
      s = conn->Exec("INSERT INTO store_settings (name, value) VALUES ('partition_width_ms', " +
                     std::to_string(width_ms) + ")");
      if (!s.ok()) return Rollback(conn, s);
    }
    s = conn->Exec("INSERT INTO schema_version (version, applied_ms) VALUES (" + std::to_string(v) +
                   ", " + now + ")");
    if (!s.ok()) return Rollback(conn, s);
  }
  // Every open, as in SQLite: new outcome or cause words show at once.
  s = conn->Exec(ViewsSql());
  if (!s.ok()) return Rollback(conn, s);
  s = conn->Exec("SELECT value FROM store_settings WHERE name = 'partition_width_ms'", &r);
  if (!s.ok()) return Rollback(conn, s);
  *width_out = r.Rows() > 0 ? r.Int(0, 0) : width_ms;
  if (*width_out <= 0)
    return Rollback(conn, Status::Internal("stored partition width is not positive"));
  return conn->Exec("COMMIT");
}

Status ListPartitions(Conn* conn, std::vector<std::pair<int64_t, int64_t>>* out) {
  out->clear();
  Result r;
  // The bounds from the catalog: "FOR VALUES FROM ('a') TO ('b')".
  Status s = conn->Exec(
      "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
      " JOIN pg_class c ON c.oid = i.inhrelid"
      " WHERE i.inhparent = 'results'::regclass",
      &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    const std::string expr = r.Text(i, 0);
    const size_t a = expr.find("FROM ("), b = expr.find(") TO (");
    if (a == std::string::npos || b == std::string::npos) continue;  // DEFAULT
    auto number = [&](size_t pos) {
      if (expr[pos] == '\'') ++pos;
      return std::strtoll(expr.c_str() + pos, nullptr, 10);
    };
    out->emplace_back(number(a + 6), number(b + 6));
  }
  std::sort(out->begin(), out->end());
  return Status::Ok();
}

Status CreatePartitions(Conn* conn, const std::vector<int64_t>& starts, int64_t width_ms) {
  if (starts.empty()) return Status::Ok();
  Status s = conn->Exec("BEGIN");
  if (!s.ok()) return s;
  s = conn->Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kPartitionLock) + ")");
  if (!s.ok()) return Rollback(conn, s);
  for (int64_t start : starts) {
    s = conn->Exec("CREATE TABLE IF NOT EXISTS " + PartitionName(start) +
                   " PARTITION OF results FOR VALUES FROM (" + std::to_string(start) + ") TO (" +
                   std::to_string(start + width_ms) + ")");
    if (!s.ok()) return Rollback(conn, s);
  }
  return conn->Exec("COMMIT");
}

}  // namespace parallax::collector::pg
