#include "probe/transport/backoff.h"

#include <algorithm>

namespace parallax::probe {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(initial), max_(max), rng_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  int64_t ceiling = initial_.count();
  for (int i = 0; i < attempt_ && ceiling < max_.count(); ++i) ceiling *= 2;
  ceiling = std::min<int64_t>(ceiling, max_.count());
  if (attempt_ < 62) ++attempt_;
  std::uniform_int_distribution<int64_t> dist(ceiling / 2, ceiling);
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace parallax::probe
