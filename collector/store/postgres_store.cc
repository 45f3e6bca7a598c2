#include "collector/store/postgres_store.h"

#include "collector/store/pg_writer.h"

namespace parallax::collector {
namespace {

Status Prefixed(const Status& s, const std::string& prefix) {
  using Code = Status::Code;
  switch (s.code()) {
    case Code::kOk:
      return s;
    case Code::kInvalidArgument:
      return Status::InvalidArgument(prefix + s.message());
    case Code::kNotFound:
      return Status::NotFound(prefix + s.message());
    case Code::kIoError:
      return Status::IoError(prefix + s.message());
    case Code::kUnavailable:
      return Status::Unavailable(prefix + s.message());
    case Code::kInternal:
      break;
  }
  return Status::Internal(prefix + s.message());
}

}  // namespace

Status PostgresStore::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  const std::string shown = pg::RedactDsn(options.dsn);
  Status s = pg::ValidateDsn(options.dsn);
  if (!s.ok()) return Status::InvalidArgument("storage.dsn \"" + shown + "\": " + s.message());
  if (options.max_batch_results == 0) {
    return Status::InvalidArgument("storage: max_batch_results must be at least 1");
  }
  if (options.partition_width.count() <= 0) {
    return Status::InvalidArgument("storage: partition_width must be positive");
  }
  std::unique_ptr<PgWriter> writer;
  s = PgWriter::Open(options.dsn, options.partition_width.count(), &writer);
  if (!s.ok()) return Prefixed(s, "storage.dsn \"" + shown + "\": ");
  std::unique_ptr<PgReader> reader;
  s = PgReader::Open(options.dsn, &reader);
  if (!s.ok()) return Prefixed(s, "storage.dsn \"" + shown + "\": ");
  PgReader* pins = reader.get();
  std::unique_ptr<PostgresStore> store(
      new PostgresStore(options, std::move(writer), std::move(reader)));
  store->pins_ = pins;
  s = store->Start();
  if (!s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

Status PostgresStore::LoadHostKeyPins(std::map<std::string, std::vector<std::string>>* out) {
  return pins_->LoadHostKeyPins(out);
}

Status PostgresStore::SaveHostKeyPins(const std::string& target,
                                      const std::vector<std::string>& fingerprints, int64_t at_ms) {
  return pins_->SaveHostKeyPins(target, fingerprints, at_ms);
}

}  // namespace parallax::collector
