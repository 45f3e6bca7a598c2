// Wall-clock time as Parallax stores and sends it: milliseconds since the
// Unix epoch. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace parallax {

inline int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace parallax
