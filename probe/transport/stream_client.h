// StreamClient: the probe's one long-lived ProbeService.Connect stream.
//
// A connection thread dials a collector, sends Hello, waits for Welcome
// (dropping spooled results the collector already committed), then sends
// every unacknowledged result from the Spool in batches while a reader thread
// takes Acks (which trim the Spool) and Assignments (handed to
// `on_assignment`). A heartbeat goes out every `heartbeat_interval`, between
// batches when results flow, and at once when `heartbeat_due` says so. When the stream breaks it
// reconnects with capped exponential backoff and jitter; checks keep running
// and results keep spooling meanwhile.
//
// Batches are bounded by count and by encoded bytes (`batch.max_bytes`, well
// below the collector's receive limit, 4 MiB by default) and linger briefly
// to fill up (see Spool::WaitBatch). When the collector ends the stream with
// RESOURCE_EXHAUSTED (a batch above its limit) the byte bound halves (down
// to 16 KiB) for the rest of the process and the client reconnects at once
// (no backoff: the collector is up) to send it again, smaller. The log names the status the
// collector really sent.
//
// Thread-safety: Start/Stop from one thread. `on_assignment` runs on the
// reader thread: post it to where it belongs. stats() from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "parallax/v1/probe.grpc.pb.h"
#include "probe/transport/backoff.h"
#include "probe/transport/collector_list.h"
#include "probe/transport/spool.h"

namespace parallax::probe {

struct StreamClientOptions {
  CollectorList collectors;  // at least one; tried in order, rotating on failure
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments channel_args;
  v1::Hello hello;    // probe_name, labels, version, boot_id
  BatchLimits batch;  // count, bytes, linger, idle wait
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  std::function<void(const v1::Assignment&)> on_assignment;
  // An ad-hoc check to run now (`parallax check`); runs on the reader thread
  // like on_assignment. Null: such requests are ignored (like older probes).
  std::function<void(const v1::AdHocCheck&)> on_adhoc_check;
  std::function<v1::Heartbeat()> make_heartbeat;  // optional: fills in_flight etc.
  // Optional: true when a heartbeat should go out now, even while results
  // are flowing (e.g. the target policy refused part of a new assignment).
  std::function<bool()> heartbeat_due;
};

struct StreamClientStats {
  bool connected = false;
  std::string collector;  // the address in use (or being tried)
  uint64_t connects = 0;
  uint64_t batches_sent = 0;
  uint64_t results_sent = 0;
  uint64_t bytes_sent = 0;        // encoded ProbeMessages with results
  uint64_t batches_rejected = 0;  // streams ended by RESOURCE_EXHAUSTED
  size_t max_batch_bytes = 0;     // the byte bound in force now
  std::string last_error;
};

class StreamClient {
 public:
  StreamClient(StreamClientOptions options, Spool* spool);
  ~StreamClient();  // Stop()s
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  void Start();
  // Sends what the spool holds (waits up to `drain` for acks), closes the
  // stream and joins the threads.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000));
  StreamClientStats stats() const;

 private:
  void Run();
  // One connection's life; returns when it breaks or on Stop.
  void Session(v1::ProbeService::Stub* stub, const std::string& address);
  void SetError(const std::string& error);
  // After RESOURCE_EXHAUSTED for a batch of `bytes`: a smaller byte bound.
  void Shrink(size_t bytes, const std::string& why, const std::string& address);
  void SleepInterruptible(std::chrono::milliseconds d);

  StreamClientOptions options_;
  Spool* spool_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> shrunk_{false};  // the last session ended with a rejected batch
  mutable std::mutex mu_;            // guards stats_, context_, sleep
  std::condition_variable sleep_cv_;
  grpc::ClientContext* context_ = nullptr;
  size_t max_batch_bytes_;  // guarded by mu_
  StreamClientStats stats_;
};

}  // namespace parallax::probe
