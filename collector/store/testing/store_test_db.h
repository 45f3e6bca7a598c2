// Test helpers shared by the store tests: a fresh PostgreSQL database on the
// process's shared PgServer (pg_server.h) for StoreOptions.
//
// Thread-compatible (call from the test's main thread).
#pragma once

#include <string>

#include "collector/store/store.h"
#include "collector/store/testing/pg_server.h"

namespace parallax::collector::testing {

// Sets options->driver = "postgres" and options->dsn to a new empty database
// (named after the running test) on the shared server. A server that cannot
// start fails the test with the reason (never a skip: CI installs
// PostgreSQL); use inside ASSERT_NO_FATAL_FAILURE.
void UsePostgres(StoreOptions* options, std::string* dbname = nullptr);

// The shared server; fails the test (fatal) when it cannot start.
PgServer* SharedPgServer();

// SQL that takes a PostgreSQL store's schema from version 4 back to what
// version 3 left of latest_results (postgres_schema.cc), for migration tests;
// the caller adds what else its older version lacks and the schema_version
// rows to delete.
inline constexpr char kPgUndoSchema4Sql[] =
    "DROP TABLE latest_changes;"
    " ALTER TABLE latest_results DROP CONSTRAINT latest_results_pkey,"
    " ADD PRIMARY KEY (probe_id, target_id);"
    " ALTER TABLE latest_results RESET (fillfactor);"
    " CREATE INDEX latest_results_ingest ON latest_results (ingest_ms);";

}  // namespace parallax::collector::testing

namespace parallax::collector {
using testing::UsePostgres;
}  // namespace parallax::collector
