// QueryServiceImpl: the CLI's gRPC API. Status is served from LiveState (no
// SQLite); History reads the Store's read connection. Synchronous service:
// gRPC runs each call on its own thread pool, so a slow history read never
// delays probe streams. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "collector/adhoc/ad_hoc_checks.h"
#include "collector/ingest/assignment.h"
#include "collector/state/live_state.h"
#include "collector/store/store.h"
#include "parallax/v1/query.grpc.pb.h"

namespace parallax::collector {

class QueryServiceImpl final : public v1::QueryService::Service {
 public:
  using Causes = std::map<std::string, std::pair<v1::Cause, std::string>>;
  // `explain` gives the diagnosis in force (World::Explain), `causes` just
  // each target's cause and summary (for Status).
  QueryServiceImpl(Store* store, LiveState* state, std::function<ConfigSnapshot()> config,
                   std::function<int64_t()> now_ms,
                   std::function<v1::ExplainResponse(const std::string&)> explain,
                   std::function<Causes()> causes)
      : store_(store),
        state_(state),
        config_(std::move(config)),
        now_ms_(std::move(now_ms)),
        explain_(std::move(explain)),
        causes_(std::move(causes)) {}

  // Optional: each probe's refusals under its own target policy (shown in
  // Status's probes). Set before the service is registered.
  struct Refusals {
    uint32_t refused = 0;
    std::vector<v1::PolicyRefusal> first;
  };
  void set_refusals(std::function<std::map<std::string, Refusals>()> refusals) {
    refusals_ = std::move(refusals);
  }

  // Optional: non-empty while this collector is a follower (several
  // collectors on one database; collector/server/leadership.h): Status and
  // Explain then fail with FAILED_PRECONDITION and this message (naming the
  // leader) instead of answering without the diagnosis. Set before the
  // service is registered.
  // `leader` (optional) gives the leader's address (HOST:PORT, "" unknown):
  // the refusal carries it in the trailing metadata `parallax-leader`
  // (kLeaderMetadata), so that the CLI can ask the leader instead.
  void set_follower(std::function<std::string()> message,
                    std::function<std::string()> leader = nullptr) {
    follower_ = std::move(message);
    leader_ = std::move(leader);
  }
  static constexpr const char* kLeaderMetadata = "parallax-leader";

  // Optional: the ad-hoc checks behind Check (UNIMPLEMENTED without). Set
  // before the service is registered; must outlive it.
  void set_adhoc(AdHocChecks* adhoc) { adhoc_ = adhoc; }

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override;
  grpc::Status History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                       v1::HistoryResponse* resp) override;
  grpc::Status Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                       v1::ExplainResponse* resp) override;
  grpc::Status Incidents(grpc::ServerContext* ctx, const v1::IncidentsRequest* req,
                         v1::IncidentsResponse* resp) override;
  // Starts an ad-hoc check (AdHocChecks) and streams its events: started,
  // each result as it arrives, done. Holds one of gRPC's sync threads for at
  // most the check's timeout + slack (check.max_concurrent bounds how many).
  // Refusals: INVALID_ARGUMENT (the message names the field and value),
  // RESOURCE_EXHAUSTED (rate limit, too many at once), FAILED_PRECONDITION
  // (no probe to ask). The caller's identity for the rate limit is its
  // certificate's (role and name), else its address.
  grpc::Status Check(grpc::ServerContext* ctx, const v1::CheckRequest* req,
                     grpc::ServerWriter<v1::CheckEvent>* writer) override;
  // Pins the key most of the target's vantage points see now (the smallest
  // fingerprint on a tie; none seen: unpinned until one is). A target pinned
  // in the config (host_keys / known_hosts) is FAILED_PRECONDITION.
  grpc::Status AcceptHostKey(grpc::ServerContext* ctx, const v1::AcceptHostKeyRequest* req,
                             v1::AcceptHostKeyResponse* resp) override;

 private:
  Store* store_;
  LiveState* state_;
  std::function<ConfigSnapshot()> config_;
  std::function<int64_t()> now_ms_;
  std::function<v1::ExplainResponse(const std::string&)> explain_;
  std::function<Causes()> causes_;
  std::function<std::string()> follower_;
  std::function<std::string()> leader_;
  // FAILED_PRECONDITION with `message`, and the leader's address (when known
  // and well-formed) in the trailing metadata.
  grpc::Status RefuseAsFollower(grpc::ServerContext* ctx, const std::string& message) const;
  std::function<std::map<std::string, Refusals>()> refusals_;
  AdHocChecks* adhoc_ = nullptr;
};

// Fills `out` from one result (for Status; age on the collector's clock).
void FillProbeStatus(const v1::CheckResult& r, int64_t now_ms, v1::ProbeStatus* out);

}  // namespace parallax::collector
