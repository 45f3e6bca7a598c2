#include "collector/store/sqlite_store.h"

#include <filesystem>

#include "common/log.h"

namespace parallax::collector {

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  return SqliteStore::Open(options, out);
}

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

  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  Status s = Writer::Open(options.path, options.busy_timeout, &store->writer_);
  if (!s.ok()) return s;
  s = store->writer_->LoadBoots(&store->committed_);
  if (!s.ok()) return s;
  s = Reader::Open(options.path, options.busy_timeout, &store->reader_);
  if (!s.ok()) return s;
  store->next_sweep_ = std::chrono::steady_clock::now();  // sweep once at start
  store->thread_ = std::thread([p = store.get()] { p->WriterLoop(); });
  *out = std::move(store);
  return Status::Ok();
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // the loop drains the queue first
}

void SqliteStore::Enqueue(WriteOp op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(op));
    ++enqueued_;
  }
  work_cv_.notify_one();
}

void SqliteStore::SubmitResults(const std::string& probe, const std::string& boot_id,
                                std::vector<v1::CheckResult> results, CommitCallback done) {
  WriteOp op;
  op.kind = WriteOp::Kind::kResults;
  op.probe = probe;
  op.boot_id = boot_id;
  op.results = std::move(results);
  op.done = std::move(done);
  Enqueue(std::move(op));
}

void SqliteStore::RecordProbe(const ProbeRecord& probe) {
  WriteOp op;
  op.kind = WriteOp::Kind::kProbe;
  op.probe_record = probe;
  Enqueue(std::move(op));
}

void SqliteStore::SyncTargets(const std::vector<TargetRecord>& targets) {
  WriteOp op;
  op.kind = WriteOp::Kind::kTargets;
  op.targets = targets;
  Enqueue(std::move(op));
}

void SqliteStore::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = enqueued_;
  done_cv_.wait(lock, [&] { return completed_ >= target; });
}

uint64_t SqliteStore::CommittedSeq(const std::string& probe, const std::string& boot_id) const {
  std::lock_guard<std::mutex> lock(seq_mu_);
  auto it = committed_.find({probe, boot_id});
  return it == committed_.end() ? 0 : it->second;
}

Status SqliteStore::LatestResults(std::vector<ResultRow>* out) {
  return reader_->LatestResults(out);
}

Status SqliteStore::History(const std::string& target, const std::string& probe, int64_t since_ms,
                            size_t limit, std::vector<ResultRow>* out) {
  return reader_->History(target, probe, since_ms, limit, out);
}

Status SqliteStore::ListProbes(std::vector<ProbeRecord>* out) { return reader_->ListProbes(out); }

void SqliteStore::EnqueueIncident(WriteOp::IncidentAction action, const std::string& target,
                                  v1::Cause cause, int64_t at_ms, const std::string& summary) {
  WriteOp op;
  op.kind = WriteOp::Kind::kIncident;
  op.incident_action = action;
  op.incident_target = target;
  op.cause = cause;
  op.at_ms = at_ms;
  op.summary = summary;
  Enqueue(std::move(op));
}

void SqliteStore::OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                               const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kOpen, target, cause, at_ms, summary);
}

void SqliteStore::ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                                 const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kChange, target, cause, at_ms, summary);
}

void SqliteStore::CloseIncident(const std::string& target, int64_t at_ms,
                                const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kClose, target, v1::CAUSE_OK, at_ms, summary);
}

Status SqliteStore::ListIncidents(const std::string& target, bool open_only, size_t limit,
                                  std::vector<IncidentRecord>* out) {
  return reader_->ListIncidents(target, open_only, limit, out);
}

std::vector<WriteOp> SqliteStore::TakeBatch() {
  std::vector<WriteOp> batch;
  size_t results = 0;
  while (!queue_.empty()) {
    size_t n = queue_.front().results.size();
    if (!batch.empty() && results + n > options_.max_batch_results) break;
    results += n;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void SqliteStore::WriterLoop() {
  const bool retention = options_.retention.count() > 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      std::vector<WriteOp> batch = TakeBatch();
      const size_t n = batch.size();
      lock.unlock();
      CommitBatch(std::move(batch));
      lock.lock();
      completed_ += n;
      done_cv_.notify_all();
      continue;
    }
    if (stop_) return;
    if (retention && !sweeping_ && std::chrono::steady_clock::now() >= next_sweep_) {
      sweeping_ = true;
      sweep_cutoff_ms_ =
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch() - options_.retention)
              .count();
      next_sweep_ = std::chrono::steady_clock::now() + options_.retention_sweep_every;
    }
    if (sweeping_) {
      lock.unlock();
      SweepChunk();
      lock.lock();
      continue;
    }
    if (retention) {
      work_cv_.wait_until(lock, next_sweep_, [&] { return stop_ || !queue_.empty(); });
    } else {
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    }
  }
}

void SqliteStore::CommitBatch(std::vector<WriteOp> batch) {
  std::vector<CommitInfo> infos;
  std::map<BootKey, uint64_t> committed;
  const auto begin = std::chrono::steady_clock::now();
  Status s = writer_->Apply(batch, &infos, &committed);
  if (s.ok() && options_.on_commit) {
    options_.on_commit(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
  }
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(seq_mu_);
    for (auto& [key, seq] : committed) committed_[key] = seq;
  } else {
    Logf(LogLevel::kWarning, "store: transaction of %zu operations failed, rolled back: %s",
         batch.size(), s.ToString().c_str());
    infos.assign(batch.size(), CommitInfo{});
    for (size_t i = 0; i < batch.size(); ++i) {
      infos[i].status = s;
      infos[i].committed_seq = CommittedSeq(batch[i].probe, batch[i].boot_id);
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (s.ok()) infos[i].results = &batch[i].results;
    if (batch[i].done) batch[i].done(infos[i]);
  }
}

void SqliteStore::SweepChunk() {
  int64_t deleted = 0;
  Status s = writer_->DeleteOlderThan(sweep_cutoff_ms_, options_.retention_chunk_rows, &deleted);
  if (!s.ok()) {
    Logf(LogLevel::kWarning, "store: retention delete failed (retrying next sweep): %s",
         s.ToString().c_str());
    sweeping_ = false;
    return;
  }
  if (deleted < options_.retention_chunk_rows) sweeping_ = false;
}

}  // namespace parallax::collector
