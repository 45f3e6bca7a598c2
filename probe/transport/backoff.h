// Capped exponential backoff with full jitter for reconnects: delay n is
// uniform in [initial*2^n / 2, initial*2^n], capped at `max`. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace parallax::probe {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_, max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace parallax::probe
