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

}  // namespace parallax::collector::testing

namespace parallax::collector {
using testing::UsePostgres;
}  // namespace parallax::collector
