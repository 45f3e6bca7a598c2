#include "collector/ingest/clock_offset.h"

namespace parallax::collector {

void ClockOffset::Add(int64_t probe_sent_ms, int64_t received_ms, int64_t echo_t1_ms,
                      int64_t echo_t2_ms) {
  if (probe_sent_ms <= 0 || received_ms <= 0) return;
  Sample s{probe_sent_ms - received_ms, -1};
  if (echo_t1_ms > 0 && echo_t2_ms > 0 && echo_t1_ms <= received_ms &&
      echo_t2_ms <= probe_sent_ms) {
    const int64_t rtt = (received_ms - echo_t1_ms) - (probe_sent_ms - echo_t2_ms);
    if (rtt >= 0) {
      // Halves of sums: keep the rounding symmetric for negative offsets.
      const int64_t sum = (echo_t2_ms - echo_t1_ms) + (probe_sent_ms - received_ms);
      s = Sample{sum >= 0 ? sum / 2 : -((-sum) / 2), rtt};
    }
  }
  // A one-way sample only until a round trip is known: once one is, one-way
  // samples (biased by the delay) are not kept.
  if (s.rtt_ms < 0 && Best() != nullptr && Best()->rtt_ms >= 0) return;
  samples_.push_back(s);
  while (samples_.size() > kWindow) samples_.pop_front();
}

const ClockOffset::Sample* ClockOffset::Best() const {
  const Sample* best = nullptr;
  for (const Sample& s : samples_) {
    if (best == nullptr) {
      best = &s;
    } else if (s.rtt_ms >= 0 && (best->rtt_ms < 0 || s.rtt_ms < best->rtt_ms)) {
      best = &s;
    } else if (s.rtt_ms < 0 && best->rtt_ms < 0) {
      best = &s;  // one way only: the latest
    }
  }
  return best;
}

int64_t ClockOffset::offset_ms() const {
  const Sample* b = Best();
  return b == nullptr ? 0 : b->offset_ms;
}

int64_t ClockOffset::rtt_ms() const {
  const Sample* b = Best();
  return b == nullptr ? -1 : b->rtt_ms;
}

}  // namespace parallax::collector
