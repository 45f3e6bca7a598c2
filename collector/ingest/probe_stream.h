// ProbeStream: the collector's end of one probe's Connect stream, a
// self-deleting gRPC ServerBidiReactor (callback API).
//
// Life: StartRead in the constructor; the first message must be a valid Hello
// whose name is the client certificate's identity (collector/auth; refused
// with PERMISSION_DENIED otherwise, so a stream only ever replaces one of the
// same identity) and whose pinned labels match the config (registers the probe in the StreamHub,
// answers Welcome with the highest seq already committed for its boot, then the probe's
// Assignment). Result batches are validated and submitted to the Store; the Ack is sent from the
// store's commit callback, so a probe never sees an ack before its results are in SQLite. At most
// `max_outstanding_batches` batches per stream wait for commit: beyond that the stream stops
// reading (gRPC flow control pushes back on the probe) until a commit frees a slot. Likewise each
// stream may deliver at most `stream_results_per_second` results on average (`stream_results_burst`
// at once, ResultRateLimit): beyond that its reads pause until the debt is
// repaid, counted in parallax_ingest_throttled_total{probe}. Nothing read is
// ever dropped.
// Results of ad-hoc checks (CheckResult.adhoc_id) are accepted when
// adhoc_expects says the probe was asked, stored and acknowledged like the
// others (same seq, exactly once), then handed to adhoc_result instead of
// LiveState.
//
// Time: the collector's clock decides. Every result is stamped at arrival with
// received_unix_ms (now) and collector_started_unix_ms = min(now, started -
// the probe's measured clock offset); the probe's started_unix_ms is kept for
// display. The offset is measured from the Hello's send time and the clock
// echo on batches and heartbeats (ClockOffset); Welcome and Ack carry the
// collector's clock for that echo.
//
// Threads: reactions run on gRPC's threads and never block (no SQLite, short
// locks only); commit callbacks run on the store's writer thread and reach the
// stream through a shared Link that outlives the reactor. One write in flight,
// the rest queued.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "collector/auth/peer_identity.h"
#include "collector/auth/revocation.h"
#include "collector/ingest/assigned_targets.h"
#include "collector/ingest/assignment.h"
#include "collector/ingest/clock_offset.h"
#include "collector/ingest/policy_reports.h"
#include "collector/ingest/rate_limit.h"
#include "collector/ingest/stream_hub.h"
#include "collector/metrics/metrics.h"
#include "collector/state/live_state.h"
#include "collector/store/store.h"
#include "parallax/v1/probe.grpc.pb.h"

namespace parallax::collector {

struct IngestDeps {
  Store* store = nullptr;
  LiveState* state = nullptr;
  Metrics* metrics = nullptr;
  StreamHub* hub = nullptr;
  StreamCertificates* certs = nullptr;      // optional: certificates of live streams
  PolicyReports* policy_reports = nullptr;  // optional: probes' target policy refusals
  std::function<ConfigSnapshot()> config;
  std::function<int64_t()> now_ms;  // wall clock, ms since the epoch
  std::string collector_version;
  int max_outstanding_batches = 4;
  // Ad-hoc checks (collector/adhoc): whether a result tagged adhoc_id from
  // `probe` for `target` answers a check that asked it (else it is dropped
  // like an unassigned one), and where the stored ones go. They never enter
  // LiveState. Empty: every ad-hoc result is dropped.
  std::function<bool(const std::string& probe, const std::string& id, const std::string& target)>
      adhoc_expects;
  std::function<void(const std::string& probe, const v1::CheckResult& result)> adhoc_result;
};

class ProbeStream : public grpc::ServerBidiReactor<v1::ProbeMessage, v1::CollectorMessage> {
 public:
  ProbeStream(grpc::CallbackServerContext* context, const IngestDeps* deps);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Link;
  void HandleHello(const v1::Hello& hello);
  void HandleResults(v1::ResultBatch* batch);
  // Adds a clock sample and publishes the estimate when it changed.
  void ClockSample(int64_t probe_sent_ms, int64_t received_ms, int64_t echo_t1_ms,
                   int64_t echo_t2_ms);

  const IngestDeps* deps_;
  std::shared_ptr<Link> link_;
  v1::ProbeMessage in_;
  bool hello_done_ = false;
  bool registered_ = false;
  std::string probe_;
  std::string boot_id_;
  int64_t last_reject_log_ms_ = 0;
  PeerIdentity peer_identity_;  // from the client certificate (collector/auth)
  AssignedTargets assigned_;
  ClockOffset clock_;                          // reactions of one stream never run at once
  std::optional<ResultRateLimit> rate_limit_;  // set at the Hello
  bool clock_published_ = false;
  int64_t clock_published_ms_ = 0;
};

// The ProbeService implementation: makes one ProbeStream per Connect call.
class ProbeServiceImpl final : public v1::ProbeService::CallbackService {
 public:
  explicit ProbeServiceImpl(const IngestDeps* deps) : deps_(deps) {}
  grpc::ServerBidiReactor<v1::ProbeMessage, v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override {
    return new ProbeStream(context, deps_);
  }

 private:
  const IngestDeps* deps_;
};

// Pushes the current assignment to every connected probe (after a reload).
void PushAssignments(const IngestDeps& deps);

}  // namespace parallax::collector
