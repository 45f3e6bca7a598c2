#include "probe/transport/spool.h"

#include <algorithm>

namespace parallax::probe {

Spool::Spool(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

uint64_t Spool::Append(v1::CheckResult&& result) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t seq = next_seq_++;
  result.set_seq(seq);
  if (items_.size() >= capacity_) {
    items_.pop_front();
    ++stats_.dropped;
  }
  items_.push_back(std::move(result));
  stats_.appended = seq;
  cv_.notify_one();
  return seq;
}

void Spool::Ack(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!items_.empty() && items_.front().seq() <= seq) items_.pop_front();
  stats_.acked_through = std::max(stats_.acked_through, seq);
}

void Spool::Rewind() {
  std::lock_guard<std::mutex> lock(mu_);
  cursor_ = items_.empty() ? next_seq_ : items_.front().seq();
}

void Spool::TakeLocked(size_t max, v1::ResultBatch* out) {
  if (items_.empty()) return;
  uint64_t front = items_.front().seq();
  if (cursor_ < front) cursor_ = front;  // those were dropped or acked meanwhile
  size_t index = cursor_ - front;
  while (index < items_.size() && static_cast<size_t>(out->results_size()) < max) {
    const v1::CheckResult& r = items_[index++];
    if (r.seq() <= highest_sent_) ++stats_.resent;
    highest_sent_ = std::max(highest_sent_, r.seq());
    *out->add_results() = r;
  }
  cursor_ = front + index;
}

void Spool::WaitBatch(size_t max, std::chrono::milliseconds timeout, v1::ResultBatch* out) {
  out->Clear();
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t epoch = wake_epoch_;
  cv_.wait_for(lock, timeout, [&] {
    return wake_epoch_ != epoch || (!items_.empty() && cursor_ <= items_.back().seq());
  });
  TakeLocked(max, out);
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
  return s;
}

}  // namespace parallax::probe
