// ResultRateLimit: a token bucket of results for one probe stream, on a
// caller-supplied clock (so tests drive it with a simulated one).
//
// The bucket holds up to `burst` tokens and refills at `per_second`. Take(n)
// always takes the n results (they were already read: nothing read is ever
// dropped) and may leave the bucket in debt; it returns how long the stream
// must wait before its next read so the debt is repaid, 0 when no wait is due.
//
// Not thread-safe: one stream's reactions never run at once.
#pragma once

#include <cstdint>

namespace parallax::collector {

class ResultRateLimit {
 public:
  ResultRateLimit(int64_t per_second, int64_t burst)
      : per_second_(per_second), burst_(burst), tokens_(static_cast<double>(burst)) {}

  // Takes `n` results read at `now_ms`; returns the ms to pause reading (0: none).
  int64_t Take(int64_t n, int64_t now_ms) {
    if (per_second_ <= 0) return 0;  // unlimited
    if (last_ms_ >= 0 && now_ms > last_ms_) {
      tokens_ += static_cast<double>(now_ms - last_ms_) * static_cast<double>(per_second_) / 1000.0;
      if (tokens_ > static_cast<double>(burst_)) tokens_ = static_cast<double>(burst_);
    }
    if (now_ms > last_ms_) last_ms_ = now_ms;
    tokens_ -= static_cast<double>(n);
    if (tokens_ >= 0) return 0;
    const double wait = -tokens_ * 1000.0 / static_cast<double>(per_second_);
    return static_cast<int64_t>(wait) + 1;
  }

 private:
  const int64_t per_second_;
  const int64_t burst_;
  double tokens_;
  int64_t last_ms_ = -1;
};

}  // namespace parallax::collector
