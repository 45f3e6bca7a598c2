#include "collector/store/sqlite_store.h"

#include <filesystem>

#include "collector/store/reader.h"
#include "collector/store/writer.h"

namespace parallax::collector {

Status SqliteStore::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("storage.path \"" + options.path + "\": " + why);
  };
  if (options.path.empty()) return bad("empty");
  if (options.path == ":memory:" || options.path.rfind("file:", 0) == 0) {
    return bad("must be a file path (in-memory and URI databases are not supported)");
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(options.path).parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    return Status::IoError("storage.path \"" + options.path + "\": directory \"" + dir.string() +
                           "\" does not exist");
  }
  if (std::filesystem::is_directory(options.path, ec)) return bad("is a directory");
  if (options.max_batch_results == 0) return bad("max_batch_results must be at least 1");

  std::unique_ptr<Writer> writer;
  Status s = Writer::Open(options.path, options.busy_timeout, &writer);
  if (!s.ok()) return s;
  std::unique_ptr<Reader> reader;
  s = Reader::Open(options.path, options.busy_timeout, &reader);
  if (!s.ok()) return s;
  std::unique_ptr<SqliteStore> store(
      new SqliteStore(options, std::move(writer), std::move(reader)));
  s = store->Start();
  if (!s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

}  // namespace parallax::collector
