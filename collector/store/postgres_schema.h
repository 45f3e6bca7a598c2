// The PostgreSQL schema of the Store and its migrations.
//
// Tables as in SQLite (schema.cc) with BIGINT ids (runs: version 3, SQLite's
// 6; latest_results holds a serialized CheckResult), except `results`, which is
// partitioned by RANGE (ts_ms) into tables named results_p<start_ms>, each
// `width` ms wide (the width is fixed when the schema is created and kept in
// store_settings). Migrations run in one transaction under
// pg_advisory_xact_lock(kMigrationLock): two collectors opening the same
// database at once migrate it once (the second waits, then finds it current).
// Partition creation and dropping take kPartitionLock the same way.
//
// Thread-safety: none (functions use the connection they are given).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/store/pg_util.h"
#include "common/status.h"

namespace parallax::collector::pg {

// Advisory lock keys (arbitrary, fixed: "PRLX", "PRLY" and "PRLZ").
inline constexpr int64_t kMigrationLock = 0x50524c58;
inline constexpr int64_t kPartitionLock = 0x50524c59;
// The leader's session lock (pg_coordinator.h): held by one collector at a
// time, released by PostgreSQL when its session ends (crash, kill -9).
inline constexpr int64_t kLeaderLock = 0x50524c5a;

// Schema versions this build knows.
int64_t KnownSchemaVersion();

// Creates or migrates the schema; a database newer than this build is
// refused. `width_ms` is used only when the schema is created; *width_out
// gets the stored one.
Status Migrate(Conn* conn, int64_t width_ms, int64_t* width_out);

// Start (inclusive) of the partition that holds ts_ms.
int64_t PartitionStart(int64_t ts_ms, int64_t width_ms);
std::string PartitionName(int64_t start_ms);

// The partitions of results as (start, end) ms, oldest first.
Status ListPartitions(Conn* conn, std::vector<std::pair<int64_t, int64_t>>* out);
// Creates the partitions starting at `starts` that do not exist yet, in one
// transaction under kPartitionLock.
Status CreatePartitions(Conn* conn, const std::vector<int64_t>& starts, int64_t width_ms);

}  // namespace parallax::collector::pg
