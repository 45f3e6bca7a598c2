#include "probe/transport/spool.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/log.h"
#include "probe/transport/result_bound.h"

namespace parallax::probe {

using Clock = std::chrono::steady_clock;

Spool::Spool(SpoolOptions options) : options_(std::move(options)), boot_id_(options_.boot_id) {
  if (options_.max_bytes == 0) options_.max_bytes = 1;
  if (options_.max_result_bytes < 256) options_.max_result_bytes = 256;
}

Spool::~Spool() { Close(); }

Status Spool::Open() {
  if (options_.path.empty()) return Status::Ok();
  auto file = std::make_unique<SpoolFile>();
  Status s = file->Open(options_.path);
  if (!s.ok()) return s;
  SpoolMeta meta;
  std::vector<Item> rows;
  uint64_t bad = 0;
  s = file->Load(&meta, [&](uint64_t seq, std::string&& data) {
    v1::CheckResult probe;
    // Keep the rows contiguous: an unreadable or out-of-order row drops
    // everything before it (counted), never leaves a hole.
    if (!probe.ParseFromString(data) || (!rows.empty() && rows.back().seq + 1 != seq)) {
      bad += rows.size() + 1;
      rows.clear();
      if (probe.ParseFromString(data)) rows.push_back(Item{seq, std::move(data)}), --bad;
      return;
    }
    rows.push_back(Item{seq, std::move(data)});
  });
  if (!s.ok()) return s;

  std::lock_guard<std::mutex> lock(mu_);
  if (!rows.empty() && !meta.boot_id.empty() && meta.probe_name == options_.probe_name) {
    resumed_ = true;
    boot_id_ = meta.boot_id;
    next_seq_ = std::max(meta.next_seq, rows.back().seq + 1);
    stats_.dropped = meta.dropped + bad;
    for (Item& item : rows) {
      bytes_ += item.data.size();
      items_.push_back(std::move(item));
    }
    while (bytes_ > options_.max_bytes ||
           (options_.max_count != 0 && items_.size() > options_.max_count)) {
      PopFrontLocked();
      ++stats_.dropped;
    }
    if (bad != 0) {
      Logf(LogLevel::kError, "spool \"%s\": %llu unreadable results dropped", options_.path.c_str(),
           static_cast<unsigned long long>(bad));
    }
    persisted_through_ = next_seq_ - 1;
    persisted_front_ = items_.empty() ? next_seq_ : items_.front().seq;
    cursor_ = persisted_front_;
    Logf(LogLevel::kInfo,
         "spool \"%s\": resuming boot %s with %zu unacknowledged results (seq %llu..%llu)",
         options_.path.c_str(), boot_id_.c_str(), items_.size(),
         static_cast<unsigned long long>(persisted_front_),
         static_cast<unsigned long long>(next_seq_ - 1));
  } else {
    if (!rows.empty()) {
      Logf(LogLevel::kWarning,
           "spool \"%s\": holds %zu results of probe \"%s\", not \"%s\": discarding them",
           options_.path.c_str(), rows.size(), meta.probe_name.c_str(),
           options_.probe_name.c_str());
    }
    s = file->Clear();
    if (!s.ok()) return s;
  }
  stats_.appended = next_seq_ - 1;
  stats_.acked_through = persisted_front_ - 1;
  persisted_dropped_ = stats_.dropped;
  durable_ = true;
  file_ = std::move(file);
  writer_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

void Spool::Close(std::chrono::milliseconds /*timeout*/) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  writer_cv_.notify_all();
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Spool::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto has_work = [&] {
    uint64_t front = items_.empty() ? next_seq_ : items_.front().seq;
    return next_seq_ - 1 > persisted_through_ || front > persisted_front_ ||
           stats_.dropped != persisted_dropped_;
  };
  Clock::time_point failing_since{};
  uint64_t failures = 0;
  while (true) {
    // Idle again after every wake-up that found nothing to do (a notifier
    // clears the flag: one notify per idle period).
    while (!closing_ && !has_work()) {
      writer_idle_ = true;
      writer_cv_.wait(lock);
    }
    writer_idle_ = false;
    if (!closing_) {
      // Gather: one transaction for what arrives within a short moment.
      writer_cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return closing_; });
    }
    if (!has_work()) {
      if (closing_) break;
      continue;
    }
    uint64_t front = items_.empty() ? next_seq_ : items_.front().seq;
    uint64_t from = std::max(persisted_through_ + 1, front);
    std::vector<std::pair<uint64_t, std::string>> rows;
    // Seqs below the front are acknowledged or dropped: nothing to write.
    uint64_t last = std::max(persisted_through_, front - 1);
    for (size_t i = from - front; i < items_.size() && rows.size() < 5000; ++i) {
      rows.emplace_back(items_[i].seq, items_[i].data);
      last = items_[i].seq;
    }
    SpoolMeta meta{options_.probe_name, boot_id_, last + 1, stats_.dropped};
    uint64_t dropped = stats_.dropped;
    bool closing = closing_;
    lock.unlock();
    Status s = file_->Commit(rows, front, meta);
    lock.lock();
    if (s.ok()) {
      persisted_through_ = std::max(persisted_through_, last);
      persisted_front_ = front;
      persisted_dropped_ = dropped;
      ++stats_.disk_commits;
      if (!durable_) {
        Logf(LogLevel::kInfo, "spool \"%s\": writable again; results are durable again",
             options_.path.c_str());
        // Everything appended meanwhile was handed out from memory: the file
        // catches up from here on.
        durable_ = true;
      }
      failures = 0;
      cv_.notify_all();
      if (closing && !has_work()) break;
      continue;
    }
    ++stats_.disk_errors;
    if (failures++ == 0) failing_since = Clock::now();
    if (failures == 1 || failures % 100 == 0) {
      Logf(LogLevel::kError, "spool: cannot write (%llu failures): %s",
           static_cast<unsigned long long>(failures), s.ToString().c_str());
    }
    if (durable_ && Clock::now() - failing_since >= options_.disk_grace) {
      Logf(LogLevel::kError,
           "spool \"%s\": failing for %lld ms; going on in memory only (results sent but not "
           "kept across a restart) until the file is writable again",
           options_.path.c_str(),
           static_cast<long long>(
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - failing_since)
                   .count()));
      durable_ = false;
      cv_.notify_all();
    }
    if (closing) break;
    writer_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return closing_; });
  }
}

void Spool::PopFrontLocked() {
  bytes_ -= items_.front().data.size();
  items_.pop_front();
}

uint64_t Spool::Append(v1::CheckResult&& result) {
  uint32_t cut = BoundResult(&result, options_.max_result_bytes);
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t seq = next_seq_++;
  result.set_seq(seq);
  std::string data = result.SerializeAsString();
  while (!items_.empty() && (bytes_ + data.size() > options_.max_bytes ||
                             (options_.max_count != 0 && items_.size() >= options_.max_count))) {
    PopFrontLocked();
    ++stats_.dropped;
  }
  if (cut != 0) ++stats_.truncated;
  bytes_ += data.size();
  items_.push_back(Item{seq, std::move(data)});
  stats_.appended = seq;
  if (file_ != nullptr) {
    // Not ready before the writer commits it (ReadyLastLocked): only the
    // writer may need waking, and only when it is idle.
    if (writer_idle_) {
      writer_idle_ = false;
      writer_cv_.notify_one();
    }
    if (durable_) return seq;
  }
  if (waiter_ == Waiter::kFirst) {
    cv_.notify_one();
  } else if (waiter_ == Waiter::kLinger) {
    linger_bytes_ += items_.back().data.size() + kFraming;
    if (ReadyCountLocked() >= linger_count_ || linger_bytes_ >= linger_max_bytes_) {
      cv_.notify_one();
    }
  }
  return seq;
}

void Spool::Ack(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seq >= next_seq_) {
    Logf(LogLevel::kWarning,
         "spool: the collector has seq %llu of boot %s but this probe's next is %llu (its spool "
         "file lost writes); continuing after it",
         static_cast<unsigned long long>(seq), boot_id_.c_str(),
         static_cast<unsigned long long>(next_seq_));
    next_seq_ = seq + 1;
    stats_.appended = seq;
    persisted_through_ = std::max(persisted_through_, seq);
  }
  while (!items_.empty() && items_.front().seq <= seq) PopFrontLocked();
  stats_.acked_through = std::max(stats_.acked_through, seq);
  if (file_ != nullptr && writer_idle_) {
    writer_idle_ = false;
    writer_cv_.notify_one();
  }
}

void Spool::Rewind() {
  std::lock_guard<std::mutex> lock(mu_);
  cursor_ = items_.empty() ? next_seq_ : items_.front().seq;
}

uint64_t Spool::ReadyLastLocked() const {
  return file_ != nullptr && durable_ ? persisted_through_ : next_seq_ - 1;
}

size_t Spool::ReadyCountLocked() const {
  if (items_.empty()) return 0;
  uint64_t from = std::max(cursor_, items_.front().seq);
  uint64_t last = std::min(ReadyLastLocked(), items_.back().seq);
  return last >= from ? static_cast<size_t>(last - from + 1) : 0;
}

void Spool::TakeLocked(const BatchLimits& limits, std::vector<const std::string*>* taken,
                       v1::ResultBatch* out) {
  if (items_.empty()) return;
  uint64_t front = items_.front().seq;
  if (cursor_ < front) cursor_ = front;  // those were dropped or acked meanwhile
  uint64_t last = ReadyLastLocked();
  size_t index = cursor_ - front;
  size_t bytes = 16;
  while (index < items_.size() && items_[index].seq <= last && taken->size() < limits.max_count) {
    const Item& item = items_[index];
    size_t add = item.data.size() + kFraming;
    if (!taken->empty() && bytes + add > limits.max_bytes) break;
    taken->push_back(&item.data);
    bytes += add;
    if (item.seq <= highest_sent_) ++stats_.resent;
    highest_sent_ = std::max(highest_sent_, item.seq);
    ++index;
  }
  cursor_ = front + index;
  if (stats_.dropped > 0 && front > 1) out->set_dropped_through(front - 1);
}

void Spool::WaitBatch(const BatchLimits& limits, v1::ResultBatch* out) {
  out->Clear();
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t epoch = wake_epoch_;
  auto woke = [&] { return wake_epoch_ != epoch || closing_; };
  waiter_ = Waiter::kFirst;
  cv_.wait_for(lock, limits.idle, [&] { return woke() || ReadyCountLocked() > 0; });
  if (!woke() && ReadyCountLocked() > 0 && limits.linger.count() > 0) {
    // Bytes ready from the cursor (sizes + framing), stopping at the bound.
    auto ready_bytes = [&] {
      size_t n = ReadyCountLocked();
      uint64_t front = items_.front().seq;
      size_t index = std::max(cursor_, front) - front;
      size_t bytes = 16;
      for (size_t i = 0; i < n && bytes < limits.max_bytes; ++i) {
        bytes += items_[index + i].data.size() + kFraming;
      }
      return bytes;
    };
    auto full = [&] {
      return ReadyCountLocked() >= limits.max_count || ready_bytes() >= limits.max_bytes;
    };
    waiter_ = Waiter::kLinger;
    linger_count_ = limits.max_count;
    linger_max_bytes_ = limits.max_bytes;
    linger_bytes_ = ready_bytes();
    cv_.wait_for(lock, limits.linger, [&] { return woke() || full(); });
  }
  waiter_ = Waiter::kNone;
  // Copy the encoded results under the lock, decode them outside it (the io
  // thread's Append waits for this lock).
  std::vector<const std::string*> taken;
  TakeLocked(limits, &taken, out);
  std::vector<std::string> copies;
  copies.reserve(taken.size());
  for (const std::string* data : taken) copies.push_back(*data);
  lock.unlock();
  out->mutable_results()->Reserve(static_cast<int>(copies.size()));
  for (const std::string& data : copies) {
    v1::CheckResult* r = out->add_results();
    if (!r->ParseFromString(data)) out->mutable_results()->RemoveLast();  // cannot happen
  }
}

void Spool::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  ++wake_epoch_;
  cv_.notify_all();
}

SpoolStats Spool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SpoolStats s = stats_;
  s.size = items_.size();
  s.bytes = bytes_;
  s.persisted_through = ReadyLastLocked();
  s.durable = file_ != nullptr && durable_;
  return s;
}

}  // namespace parallax::probe
