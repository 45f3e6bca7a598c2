// SqliteStore: the Store on one SQLite file in WAL mode (store.h's default
// driver): a QueuedStore over a Writer (writer.h) and a read-only Reader
// (reader.h), plus host key pins on a short-lived connection per call.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/store/queued_store.h"

namespace parallax::collector {

class SqliteStore : public QueuedStore {
 public:
  // Validates options.path, opens (creating, checking, migrating) the
  // database and starts the writer.
  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);

  Status LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) override;
  Status SaveHostKeyPins(const std::string& target, const std::vector<std::string>& fingerprints,
                         int64_t at_ms) override;

 private:
  using QueuedStore::QueuedStore;
};

}  // namespace parallax::collector
