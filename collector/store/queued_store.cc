#include "collector/store/queued_store.h"

#include <algorithm>
#include <thread>

#include "common/clock.h"
#include "common/log.h"

namespace parallax::collector {

Status QueuedStore::Start() {
  writer_->SetCompaction(options_.compaction);
  Status s = writer_->LoadBoots(&committed_);
  if (!s.ok()) return s;
  next_sweep_ = std::chrono::steady_clock::now();  // sweep once at start
  RefreshStats();                                  // stats from the start
  next_stats_ = std::chrono::steady_clock::now() + options_.stats_every;
  thread_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

QueuedStore::~QueuedStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // the loop drains the queue first
}

void QueuedStore::Enqueue(WriteOp op) {
  bool wake = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    op.index = next_index_.fetch_add(1);
    queued_results_ += op.results.size();
    queue_.push_back(std::move(op));
    ++enqueued_;
    // A writer in its group-commit wait needs waking only for a full batch.
    wake = !group_waiting_ || queued_results_ >= options_.max_batch_results;
  }
  if (wake) work_cv_.notify_one();
}

void QueuedStore::SubmitResults(const std::string& probe, const std::string& boot_id,
                                std::vector<v1::CheckResult> results, CommitCallback done) {
  WriteOp op;
  op.kind = WriteOp::Kind::kResults;
  op.probe = probe;
  op.boot_id = boot_id;
  op.results = std::move(results);
  op.done = std::move(done);
  Enqueue(std::move(op));
}

void QueuedStore::RecordProbe(const ProbeRecord& probe) {
  WriteOp op;
  op.kind = WriteOp::Kind::kProbe;
  op.probe_record = probe;
  Enqueue(std::move(op));
}

void QueuedStore::SyncTargets(const std::vector<TargetRecord>& targets) {
  WriteOp op;
  op.kind = WriteOp::Kind::kTargets;
  op.targets = targets;
  Enqueue(std::move(op));
}

void QueuedStore::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = enqueued_;
  done_cv_.wait(lock, [&] { return completed_ >= target; });
}

uint64_t QueuedStore::CommittedSeq(const std::string& probe, const std::string& boot_id) const {
  BootKey key{probe, boot_id};
  // Shared database: another collector may have stored more of this boot
  // since (the probe streamed to it): read the mark through. On failure the
  // cached mark stands; it is never above the database's (marks only grow),
  // so the probe at worst resends what is stored, counted as duplicates.
  uint64_t stored = 0;
  bool read = false;
  if (reader_->shared()) {
    Status s = reader_->ReadCommittedSeq(probe, boot_id, &stored);
    read = s.ok();
    if (!read) {
      Logf(LogLevel::kWarning,
           "store: reading the committed seq of probe %s boot %s failed, using this "
           "collector's: %s",
           probe.c_str(), boot_id.c_str(), s.ToString().c_str());
    }
  }
  std::lock_guard<std::mutex> lock(seq_mu_);
  auto b = broken_.find(key);
  // A new stream resumes from here: what it submits from now on is accepted.
  if (b != broken_.end()) b->second = next_index_.load();
  auto it = committed_.find(key);
  uint64_t have = it == committed_.end() ? 0 : it->second;
  if (read && stored > have) {
    // Contiguous commits continue from the database's mark.
    committed_[key] = stored;
    have = stored;
  }
  return have;
}

bool QueuedStore::shared() const { return reader_->shared(); }

uint64_t QueuedStore::Committed(const BootKey& key) const {
  std::lock_guard<std::mutex> lock(seq_mu_);
  auto it = committed_.find(key);
  return it == committed_.end() ? 0 : it->second;
}

Status QueuedStore::LatestResults(std::vector<ResultRow>* out) {
  return reader_->LatestResults(out);
}

Status QueuedStore::History(const std::string& target, const std::string& probe, int64_t since_ms,
                            size_t limit, std::vector<ResultRow>* out) {
  return reader_->History(target, probe, since_ms, limit, out);
}

Status QueuedStore::ListProbes(std::vector<ProbeRecord>* out) { return reader_->ListProbes(out); }

Status QueuedStore::Runs(const std::string& target, const std::string& probe, int64_t since_ms,
                         size_t limit, std::vector<RunRecord>* out) {
  return reader_->Runs(target, probe, since_ms, limit, out);
}

void QueuedStore::EnqueueIncident(WriteOp::IncidentAction action, const std::string& target,
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

void QueuedStore::OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                               const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kOpen, target, cause, at_ms, summary);
}

void QueuedStore::ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                                 const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kChange, target, cause, at_ms, summary);
}

void QueuedStore::CloseIncident(const std::string& target, int64_t at_ms,
                                const std::string& summary) {
  EnqueueIncident(WriteOp::IncidentAction::kClose, target, v1::CAUSE_OK, at_ms, summary);
}

Status QueuedStore::ListIncidents(const std::string& target, bool open_only, size_t limit,
                                  std::vector<IncidentRecord>* out) {
  return reader_->ListIncidents(target, open_only, limit, out);
}

std::vector<WriteOp> QueuedStore::TakeBatch() {
  std::vector<WriteOp> batch;
  size_t results = 0;
  while (!queue_.empty()) {
    size_t n = queue_.front().results.size();
    if (!batch.empty() && results + n > options_.max_batch_results) break;
    results += n;
    queued_results_ -= n;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void QueuedStore::WriterLoop() {
  using std::chrono::steady_clock;
  const bool retention = options_.retention.count() > 0 ||
                         options_.incident_retention.count() > 0 ||
                         (options_.compaction && options_.change_retention.count() > 0);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const auto now = steady_clock::now();
    if (retention && !sweeping_ && now >= next_sweep_) {
      sweeping_ = true;
      sweep_phase_ = 0;
      const int64_t wall_ms = WallClockMs();
      sweep_cutoff_ms_ = wall_ms - options_.retention.count();
      change_cutoff_ms_ = wall_ms - ChangeRetention().count();
      incident_cutoff_ms_ = wall_ms - options_.incident_retention.count();
      next_sweep_ = now + options_.retention_sweep_every;
      last_chunk_ = steady_clock::time_point{};
    }
    if (now >= next_stats_) {
      next_stats_ = now + options_.stats_every;
      lock.unlock();
      RefreshStats();
      lock.lock();
      continue;
    }
    if (!queue_.empty()) {
      // Group commit: while other streams' batches are likely on their way
      // (we committed moments ago), wait a little so one transaction and
      // one fsync serve them all.
      if (options_.group_commit_wait.count() > 0 && !stop_ &&
          queued_results_ < options_.max_batch_results &&
          now - last_commit_end_ < kGroupCommitBusy) {
        group_waiting_ = true;
        work_cv_.wait_until(lock, now + options_.group_commit_wait,
                            [&] { return stop_ || queued_results_ >= options_.max_batch_results; });
        group_waiting_ = false;
      }
      std::vector<WriteOp> batch = TakeBatch();
      const size_t n = batch.size();
      lock.unlock();
      CommitBatch(std::move(batch));
      last_commit_end_ = steady_clock::now();
      lock.lock();
      completed_ += n;
      done_cv_.notify_all();
      // Under load, retention still advances in bounded steps.
      if (sweeping_ && steady_clock::now() - last_chunk_ >= kSweepUnderLoadEvery) {
        lock.unlock();
        SweepChunk();
        lock.lock();
      }
      continue;
    }
    if (stop_) return;
    if (sweeping_) {
      lock.unlock();
      SweepChunk();
      lock.lock();
      continue;
    }
    auto wake = next_stats_;
    if (retention) wake = std::min(wake, next_sweep_);
    work_cv_.wait_until(lock, wake, [&] { return stop_ || !queue_.empty(); });
  }
}

void QueuedStore::CommitBatch(std::vector<WriteOp> batch) {
  // 1. Refuse the results ops of broken boots that would leave a hole.
  std::vector<WriteOp> refused;
  std::vector<Status> refused_why;
  {
    std::map<BootKey, uint64_t> expected;  // highest seq accepted so far in this batch
    std::lock_guard<std::mutex> lock(seq_mu_);
    std::vector<WriteOp> accepted;
    accepted.reserve(batch.size());
    for (WriteOp& op : batch) {
      if (op.kind != WriteOp::Kind::kResults || op.results.empty()) {
        accepted.push_back(std::move(op));
        continue;
      }
      BootKey key{op.probe, op.boot_id};
      auto b = broken_.find(key);
      if (b == broken_.end()) {
        accepted.push_back(std::move(op));
        continue;
      }
      auto c = committed_.find(key);
      uint64_t have = c == committed_.end() ? 0 : c->second;
      auto e = expected.find(key);
      if (e != expected.end()) have = std::max(have, e->second);
      uint64_t min_seq = UINT64_MAX, max_seq = 0;
      for (const v1::CheckResult& r : op.results) {
        min_seq = std::min<uint64_t>(min_seq, r.seq());
        max_seq = std::max<uint64_t>(max_seq, r.seq());
      }
      const bool new_stream = b->second != kNoResync && op.index >= b->second;
      if (new_stream || min_seq <= have + 1) {
        expected[key] = std::max(have, max_seq);
        accepted.push_back(std::move(op));
        continue;
      }
      refused_why.push_back(Status::Unavailable(
          "results " + std::to_string(min_seq) + ".." + std::to_string(max_seq) + " of probe \"" +
          op.probe + "\" boot " + op.boot_id + " were queued behind a failed transaction;" +
          " stored up to seq " + std::to_string(have) + ", resend from there"));
      refused.push_back(std::move(op));
    }
    batch = std::move(accepted);
  }
  for (size_t i = 0; i < refused.size(); ++i) {
    CommitInfo info;
    info.status = refused_why[i];
    info.committed_seq = Committed({refused[i].probe, refused[i].boot_id});
    if (refused[i].done) refused[i].done(info);
  }
  if (batch.empty()) return;

  // 2. Apply in one transaction; retry while another connection holds the lock.
  std::vector<CommitInfo> infos;
  std::map<BootKey, uint64_t> committed;
  const auto first_try = std::chrono::steady_clock::now();
  auto backoff = std::chrono::milliseconds(100);
  Status s;
  for (int attempt = 1;; ++attempt) {
    committed.clear();
    s = writer_->Apply(batch, &infos, &committed);
    if (s.ok() || !writer_->Retryable(s)) break;
    if (std::chrono::steady_clock::now() + backoff - first_try > options_.busy_retry) break;
    Logf(LogLevel::kWarning, "store: database busy (attempt %d), retrying in %lld ms: %s", attempt,
         static_cast<long long>(backoff.count()), s.ToString().c_str());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }

  // 3. Publish or break.
  if (s.ok()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - first_try).count();
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++stats_.commits;
      stats_.commit_seconds_sum += seconds;
    }
    if (options_.on_commit) options_.on_commit(seconds);
    std::lock_guard<std::mutex> lock(seq_mu_);
    for (auto& [key, seq] : committed) {
      uint64_t& have = committed_[key];
      have = std::max(have, seq);  // a read-through (CommittedSeq) may be ahead
      broken_.erase(key);
    }
  } else {
    CountError(s);
    Logf(LogLevel::kWarning, "store: transaction of %zu operations failed, rolled back: %s",
         batch.size(), s.ToString().c_str());
    {
      std::lock_guard<std::mutex> lock(seq_mu_);
      for (const WriteOp& op : batch) {
        if (op.kind == WriteOp::Kind::kResults) broken_[{op.probe, op.boot_id}] = kNoResync;
      }
    }
    infos.assign(batch.size(), CommitInfo{});
    for (size_t i = 0; i < batch.size(); ++i) {
      infos[i].status = s;
      infos[i].committed_seq = Committed({batch[i].probe, batch[i].boot_id});
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (s.ok()) infos[i].results = &batch[i].results;
    if (batch[i].done) batch[i].done(infos[i]);
  }
}

void QueuedStore::SweepChunk() {
  last_chunk_ = std::chrono::steady_clock::now();
  const int64_t chunk = options_.retention_chunk_rows;
  int64_t deleted = 0;
  Status s;
  std::vector<std::string> expired;
  if (sweep_phase_ == 0 && ChangeRetention().count() > 0) {
    s = writer_->DeleteOlderThan(change_cutoff_ms_, chunk, &deleted);
  } else if (sweep_phase_ == 1 && options_.incident_retention.count() > 0) {
    s = writer_->DeleteIncidentsClosedBefore(incident_cutoff_ms_, chunk, &deleted);
  } else if (sweep_phase_ == 2 && options_.retention.count() > 0) {
    s = writer_->DeleteRunsOlderThan(sweep_cutoff_ms_, chunk, &deleted);
  } else if (sweep_phase_ == 3 && options_.retention.count() > 0) {
    // Probes not seen for the whole retention with no result left.
    s = writer_->DeleteExpiredProbes(sweep_cutoff_ms_, chunk, &expired);
    deleted = static_cast<int64_t>(expired.size());
    if (s.ok() && !expired.empty()) {
      std::lock_guard<std::mutex> lock(seq_mu_);
      for (const std::string& name : expired) {
        auto drop = [&](auto& map) {
          for (auto it = map.lower_bound({name, ""}); it != map.end() && it->first.first == name;) {
            it = map.erase(it);
          }
        };
        drop(committed_);
        drop(broken_);
      }
      Logf(LogLevel::kInfo, "store: retention removed %zu probes not seen for %lld s",
           expired.size(), static_cast<long long>(options_.retention.count() / 1000));
    }
  }
  if (!s.ok()) {
    CountError(s);
    Logf(LogLevel::kWarning, "store: retention delete failed (retrying next sweep): %s",
         s.ToString().c_str());
    sweeping_ = false;
    return;
  }
  if (deleted < chunk && ++sweep_phase_ > 3) sweeping_ = false;
}

void QueuedStore::CountError(const Status& s) {
  const char* kind = writer_->ErrorKind(s);
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.errors[kind];
}

void QueuedStore::RefreshStats() {
  StoreStats sizes;
  writer_->Maintain(&sizes);
  double lag = 0;
  if (ChangeRetention().count() > 0) {
    int64_t oldest = 0;
    if (writer_->OldestResultMs(&oldest).ok() && oldest > 0) {
      const int64_t cutoff = WallClockMs() - ChangeRetention().count();
      if (oldest < cutoff) lag = static_cast<double>(cutoff - oldest) / 1000.0;
    }
  }
  StoreStats snapshot;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.database_bytes = sizes.database_bytes;
    stats_.wal_bytes = sizes.wal_bytes;
    stats_.free_bytes = sizes.free_bytes;
    stats_.retention_lag_seconds = lag;
    snapshot = stats_;
  }
  if (options_.on_stats) options_.on_stats(snapshot);
}

StoreStats QueuedStore::Stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

}  // namespace parallax::collector
