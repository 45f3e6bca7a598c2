// PostgresStore: the Store (store.h) on a PostgreSQL database, selected by
// `storage: {driver: postgres, dsn: "..."}`. A QueuedStore over a PgWriter
// (pg_writer.h: batched prepared inserts, dedupe by the boot's committed seq
// under a row lock, partitions, retention) and a PgReader (pg_reader.h, its
// own connection).
//
// Differences from SQLite's contract in store.h:
//  - Durability is the server's (synchronous_commit, replication); `done`
//    still runs only after COMMIT returned.
//  - A lost connection fails the transaction in progress and every batch
//    until the writer reconnects (backoff 100 ms .. 5 s): submitters see a
//    failure and resend (contiguous commits hold as for any failed
//    transaction). Nothing is retried behind the submitter's back except
//    deadlocks and serialization failures.
//  - Retention drops whole results partitions (`partition_width` wide) that
//    ended before the cutoff (with run compaction: `change_retention`), then
//    deletes the older rows of the partition holding the cutoff in chunks.
//    Runs (schema version 3) are not partitioned (a live run spans
//    partitions): those last seen before `retention` are deleted in chunks.
//  - StoreStats: database_bytes = pg_database_size; wal_bytes 0; free_bytes
//    -1 (the server's disk); errors by kind "connection", "busy", "full",
//    "io", "other".
//  - Host key pins use the reader's connection.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/store/pg_reader.h"
#include "collector/store/queued_store.h"

namespace parallax::collector {

class PostgresStore : public QueuedStore {
 public:
  // Validates options.dsn (errors name "storage.dsn" and never its
  // password), connects, migrates, starts the writer.
  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);

  Status LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) override;
  Status SaveHostKeyPins(const std::string& target, const std::vector<std::string>& fingerprints,
                         int64_t at_ms) override;

 private:
  using QueuedStore::QueuedStore;
  PgReader* pins_ = nullptr;  // owned by QueuedStore (its reader)
};

}  // namespace parallax::collector
