// The collector database schema and its migrations.
//
// The schema is versioned by the `schema_version` table (one row per applied
// step). Migration steps form an ordered list; Migrate() applies the missing
// ones in one BEGIN IMMEDIATE transaction, so a crash mid-migration leaves the
// previous version intact. A database written by a newer collector (version
// above kSchemaVersion) is refused rather than guessed at.
//
// The `results_v`, `runs_v` and `incidents_v` views (names instead of ids,
// outcome and cause as words) are dropped
// and recreated at every Migrate() so new words appear without a step.
//
// Thread-safety: functions use only the connection passed in.
#pragma once

#include <cstdint>
#include <string>

#include "collector/store/sqlite_util.h"
#include "common/status.h"

namespace parallax::collector {

// The newest schema version this build knows.
int64_t KnownSchemaVersion();

// Creates or upgrades the schema on the write connection `db`, then recreates
// the results_v view. `path` only names the database in errors.
Status Migrate(sqlite::Db* db, const std::string& path);

// "CASE <column> WHEN 0 THEN 'unspecified' WHEN 1 THEN 'ok' ... END": the
// outcome number as its word (common/words.h), for SQL.
std::string OutcomeCaseSql(const std::string& column);
// The same for Cause numbers (CauseWord).
std::string CauseCaseSql(const std::string& column);

}  // namespace parallax::collector
