// LD_PRELOAD library: std::chrono::system_clock::now() of the process that
// loads it returns the real wall clock shifted by PARALLAX_WALL_CLOCK_OFFSET_S
// seconds (an integer, e.g. -600; unset or unparsable: 0). Used by the tests
// for a probe whose clock is *behind* (WallClockSkewArgv in harness.h).
//
// Why not libfaketime for that direction: libfaketime shifts every
// clock_gettime(CLOCK_REALTIME) of the process, including absl's, and gRPC's
// absl-based waits sleep on futexes with absolute CLOCK_REALTIME deadlines
// that the kernel compares with the *real* clock. 10 minutes behind, every
// deadline is already past: the probe's gRPC timer threads spun at 1.3 cores
// (measured in the network lab; 0.26 cores idle on loopback), starving the
// lab's sshd into banner timeouts. Ahead, the waits only run long, and the
// tests keep Debian's libfaketime.
//
// This shifts exactly what the probe reports (result and heartbeat times,
// common/clock.h: all through system_clock::now()); gRPC, absl, OpenSSL and
// the log keep the real clock. Thread-safe: the offset is read once.
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

namespace {

int64_t OffsetNanos() {
  const char* text = getenv("PARALLAX_WALL_CLOCK_OFFSET_S");
  if (text == nullptr) return 0;
  char* end = nullptr;
  long long seconds = strtoll(text, &end, 10);
  if (end == text || *end != '\0') return 0;
  return static_cast<int64_t>(seconds) * 1000000000LL;
}

}  // namespace

// std::chrono::_V2::system_clock::now(): its time_point (int64 nanoseconds
// since the epoch) is returned in a register like an int64_t.
extern "C" __attribute__((visibility("default"))) int64_t _ZNSt6chrono3_V212system_clock3nowEv() {
  static const int64_t offset = OffsetNanos();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec + offset;
}
