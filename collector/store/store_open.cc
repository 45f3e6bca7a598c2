// Store::Open: the driver named in StoreOptions picks the implementation.
#include "collector/store/postgres_store.h"
#include "collector/store/sqlite_store.h"

namespace parallax::collector {

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.driver.empty() || options.driver == "sqlite") return SqliteStore::Open(options, out);
  if (options.driver == "postgres") return PostgresStore::Open(options, out);
  return Status::InvalidArgument("storage.driver \"" + options.driver +
                                 "\": unknown (use sqlite or postgres)");
}

}  // namespace parallax::collector
