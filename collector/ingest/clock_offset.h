// ClockOffset: estimates one probe's wall-clock offset against the
// collector's (offset = probe clock - collector clock; positive: the probe is
// ahead) from timestamps on the messages of its stream.
//
// Method (also in docs/PROTOCOL.md, "Clocks"):
//  - Round trip, NTP's on-wire method: the collector stamps every Welcome and
//    Ack with its clock (t1); the probe notes its clock when it reads it (t2)
//    and echoes both on its next batch or heartbeat, sent at t3 (probe clock);
//    the collector reads that at t4 (its clock). offset = ((t2-t1)+(t3-t4))/2,
//    round trip = (t4-t1)-(t3-t2). The error is at most half the round trip.
//  - One way, when no echo is known yet (the Hello, or a probe older than the
//    echo fields): offset = t3 - t4, which reads the probe ahead-biased by the
//    one-way delay (negative side); used only until a round trip is measured.
//  - Of the last kWindow samples the one with the smallest round trip wins
//    (NTP's clock filter): a sample delayed by a queue says least.
//
// Trust: a probe can make its offset say anything. The collector uses it only
// to date results no later than their arrival (collector/ingest/probe_stream),
// so a lying probe can make its own results look older, never fresher.
//
// Pure, no clock of its own. Not thread-safe: one owner (the stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace parallax::collector {

class ClockOffset {
 public:
  static constexpr size_t kWindow = 8;

  // A message the probe sent at `probe_sent_ms` (its clock) arrived at
  // `received_ms` (ours). `echo_t1_ms`/`echo_t2_ms`: the echoed collector stamp
  // and the probe's clock when it read it; 0 when none. Samples with a zero
  // probe time, or an echo that is not causal (t1 after t4, t2 after t3), are
  // ignored.
  void Add(int64_t probe_sent_ms, int64_t received_ms, int64_t echo_t1_ms = 0,
           int64_t echo_t2_ms = 0);

  bool known() const { return !samples_.empty(); }
  // The best estimate; 0 while unknown.
  int64_t offset_ms() const;
  // Round trip of the best sample; -1 if it was a one-way sample.
  int64_t rtt_ms() const;
  // The probe's time `probe_ms` on the collector's clock (unchanged while
  // unknown).
  int64_t ToCollector(int64_t probe_ms) const { return probe_ms - offset_ms(); }

 private:
  struct Sample {
    int64_t offset_ms;
    int64_t rtt_ms;  // -1: one way
  };
  const Sample* Best() const;
  std::deque<Sample> samples_;
};

}  // namespace parallax::collector
