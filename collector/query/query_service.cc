#include "collector/query/query_service.h"

#include <arpa/inet.h>

#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>

#include "collector/auth/peer_identity.h"

namespace parallax::collector {

void FillProbeStatus(const v1::CheckResult& r, int64_t now_ms, v1::ProbeStatus* out) {
  out->set_outcome(r.outcome());
  out->set_connect_ms(r.connect_us() / 1000.0);
  out->set_banner_ms(r.banner_us() / 1000.0);
  out->set_banner(r.identification());
  const int64_t started = ResultTimeMs(r);  // the collector's clock
  out->set_age_s(started > 0 ? (now_ms - started) / 1000.0 : 0);
  out->set_address(r.address());
  out->set_detail(r.detail());
}

grpc::Status QueryServiceImpl::RefuseAsFollower(grpc::ServerContext* ctx,
                                                const std::string& message) const {
  // The address comes from the database (the leader wrote it): only a
  // HOST:PORT-shaped value of at most 255 bytes goes into the metadata.
  std::string leader = leader_ ? leader_() : "";
  bool well_formed = !leader.empty() && leader.size() <= 255;
  for (char c : leader) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view(".-_:[]").find(c) == std::string_view::npos) {
      well_formed = false;
    }
  }
  if (ctx != nullptr && well_formed) ctx->AddTrailingMetadata(kLeaderMetadata, leader);
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message);
}

grpc::Status QueryServiceImpl::Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                                      v1::StatusResponse* resp) {
  if (follower_) {
    if (std::string m = follower_(); !m.empty()) return RefuseAsFollower(ctx, m);
  }
  ConfigSnapshot snap = config_();
  StateSnapshot state = state_->Snapshot();
  int64_t now = now_ms_();
  resp->set_now_unix_ms(now);
  if (!req->target().empty() && snap.config->FindTarget(req->target()) == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "no target named \"" + req->target() + "\" in the collector's config");
  }
  Causes causes = causes_();
  for (const TargetConfig& t : snap.config->targets) {
    if (!req->target().empty() && t.name != req->target()) continue;
    v1::TargetStatus* ts = resp->add_targets();
    auto cause = causes.find(t.name);
    ts->set_cause(cause == causes.end() ? v1::CAUSE_UNKNOWN : cause->second.first);
    if (cause != causes.end()) ts->set_summary(cause->second.second);
    ts->set_name(t.name);
    ts->set_host(t.host);
    ts->set_port(t.port);
    ts->mutable_labels()->insert(t.labels.begin(), t.labels.end());
    auto results = state.results.find(t.name);
    // Every probe that should check this target appears, with or without a result.
    for (const auto& [probe, ps] : state.probes) {
      const v1::CheckResult* r = nullptr;
      if (results != state.results.end()) {
        auto it = results->second.find(probe);
        if (it != results->second.end()) r = &it->second;
      }
      if (r == nullptr && !t.SelectsProbe(ps.labels)) continue;
      v1::ProbeStatus* p = ts->add_probes();
      p->set_probe(probe);
      p->mutable_labels()->insert(ps.labels.begin(), ps.labels.end());
      p->set_connected(ps.connected);
      if (r != nullptr) FillProbeStatus(*r, now, p);
    }
  }
  std::map<std::string, Refusals> refusals;
  if (refusals_) refusals = refusals_();
  // The probes' health in the diagnosis: an explain of no target (a name no
  // target can have) carries only that.
  std::map<std::string, std::pair<bool, std::string>> health;
  if (explain_) {
    const v1::ExplainResponse none = explain_(std::string(1, '\x01'));
    for (const v1::ProbeHealth& h : none.probes()) {
      health[h.probe()] = {h.healthy(), h.reason()};
    }
  }
  for (const auto& [name, ps] : state.probes) {
    v1::ProbeInfo* p = resp->add_probes();
    auto refused = refusals.find(name);
    if (refused != refusals.end()) {
      p->set_policy_refused(refused->second.refused);
      for (const v1::PolicyRefusal& r : refused->second.first) *p->add_policy_refusals() = r;
    }
    p->set_name(name);
    p->mutable_labels()->insert(ps.labels.begin(), ps.labels.end());
    p->set_connected(ps.connected);
    p->set_version(ps.version);
    p->set_last_seen_age_s(ps.last_seen_ms > 0 ? (now - ps.last_seen_ms) / 1000.0 : -1);
    p->set_clock_measured(ps.clock_measured);
    p->set_clock_offset_s(ps.clock_offset_ms / 1000.0);
    p->set_clock_rtt_ms(ps.clock_measured ? static_cast<double>(ps.clock_rtt_ms) : -1);
    p->set_peer(ps.peer);
    // Sent by the probe: only IP addresses pass, at most 8.
    for (const std::string& a : ps.heartbeat.source_addresses()) {
      if (p->source_addresses_size() >= 8) break;
      unsigned char buf[16];
      if (a.size() <= 64 &&
          (inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1)) {
        p->add_source_addresses(a);
      }
    }
    auto h = health.find(name);
    p->set_healthy(h == health.end() || h->second.first);
    if (h != health.end()) p->set_health_reason(h->second.second);
  }
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::History(grpc::ServerContext*, const v1::HistoryRequest* req,
                                       v1::HistoryResponse* resp) {
  if (req->target().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "history needs a target name");
  }
  size_t limit = req->limit() == 0 ? 50 : req->limit();
  if (limit > 10000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "limit " + std::to_string(limit) + " is above the maximum of 10000");
  }
  std::vector<ResultRow> rows;
  parallax::Status st =
      store_->History(req->target(), req->probe(), req->since_unix_ms(), limit, &rows);
  if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, st.ToString());
  std::vector<RunRecord> runs;
  st = store_->Runs(req->target(), req->probe(), req->since_unix_ms(), limit, &runs);
  if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, st.ToString());
  if (rows.empty() && runs.empty() && config_().config->FindTarget(req->target()) == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "no target named \"" + req->target() + "\" (configured or stored)");
  }
  resp->set_target(req->target());
  for (const ResultRow& row : rows) {
    const v1::CheckResult& r = row.result;
    v1::HistoryEntry* e = resp->add_entries();
    e->set_unix_ms(r.started_unix_ms());
    e->set_probe(row.probe);
    e->set_outcome(r.outcome());
    e->set_connect_ms(r.connect_us() / 1000.0);
    e->set_banner_ms(r.banner_us() / 1000.0);
    e->set_banner(r.identification());
    e->set_address(r.address());
    e->set_error_number(r.error_number());
    e->set_detail(r.detail());
    e->mutable_pre_banner()->CopyFrom(r.pre_banner());
    e->set_collector_unix_ms(r.collector_started_unix_ms());
    e->set_received_unix_ms(r.received_unix_ms());
    if (r.has_liveness()) *e->mutable_evidence() = r.liveness();
    e->set_adhoc_id(r.adhoc_id());
  }
  for (const RunRecord& run : runs) {
    v1::HistoryRun* h = resp->add_runs();
    h->set_probe(run.probe);
    h->set_outcome(run.outcome);
    h->set_first_unix_ms(run.first_ms);
    h->set_last_unix_ms(run.last_ms);
    h->set_count(run.count);
    h->set_connect_min_ms(run.connect_min_us / 1000.0);
    h->set_connect_mean_ms(
        run.count > 0 ? static_cast<double>(run.connect_sum_us) / run.count / 1000.0 : 0);
    h->set_connect_max_ms(run.connect_max_us / 1000.0);
    h->set_boot_id(run.boot_id);
    h->set_first_seq(run.first_seq);
    h->set_last_seq(run.last_seq);
  }
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::Explain(grpc::ServerContext* ctx, const v1::ExplainRequest* req,
                                       v1::ExplainResponse* resp) {
  if (follower_) {
    if (std::string m = follower_(); !m.empty()) return RefuseAsFollower(ctx, m);
  }
  if (!req->target().empty() && config_().config->FindTarget(req->target()) == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "no target named \"" + req->target() + "\" in the collector's config");
  }
  *resp = explain_(req->target());
  return grpc::Status::OK;
}

namespace {

// The events of one Check call, from AdHocChecks' threads to the handler's.
struct CheckQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<v1::CheckEvent> events;
  bool done = false;
  void Push(v1::CheckEvent e, bool last) {
    {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(e));
      done = done || last;
    }
    cv.notify_one();
  }
};

std::string CallerOf(grpc::ServerContext* ctx) {
  PeerIdentity who = IdentityFromAuthContext(ctx->auth_context().get());
  if (who.authenticated && !who.name.empty()) {
    return std::string(RoleName(who.role)) + ":" + who.name;
  }
  std::string peer = ctx->peer();  // "ipv4:127.0.0.1:40312": the address, not the port
  size_t colon = peer.rfind(':');
  return colon == std::string::npos || colon < 5 ? peer : peer.substr(0, colon);
}

}  // namespace

grpc::Status QueryServiceImpl::Check(grpc::ServerContext* ctx, const v1::CheckRequest* req,
                                     grpc::ServerWriter<v1::CheckEvent>* writer) {
  if (adhoc_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "ad-hoc checks are not enabled");
  }
  auto queue = std::make_shared<CheckQueue>();
  AdHocRequest request;
  request.host = req->host();
  request.port = req->port();
  request.timeout = std::chrono::milliseconds(req->timeout_ms());
  request.probes = req->probes();
  request.caller = CallerOf(ctx);
  AdHocCallbacks callbacks;
  callbacks.on_result = [queue](const AdHocProbeResult& r) {
    v1::CheckEvent e;
    *e.mutable_result() = CheckProbeResultOf(r);
    queue->Push(std::move(e), false);
  };
  callbacks.on_done = [queue](const AdHocDone& d) {
    v1::CheckEvent e;
    *e.mutable_done() = CheckDoneOf(d);
    queue->Push(std::move(e), true);
  };
  AdHocStarted started;
  std::string message;
  switch (adhoc_->Start(request, std::move(callbacks), &started, &message)) {
    case AdHocRefusal::kNone:
      break;
    case AdHocRefusal::kInvalidArgument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
    case AdHocRefusal::kRateLimited:
    case AdHocRefusal::kTooMany:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
    case AdHocRefusal::kNoProbes:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message);
  }
  v1::CheckEvent first;
  *first.mutable_started() = CheckStartedOf(started);
  bool client_gone = !writer->Write(first);
  // Bounded: the check ends at its deadline (timeout + slack) at the latest;
  // the cap only guards against a stuck timer.
  const auto give_up =
      std::chrono::steady_clock::now() + started.timeout + std::chrono::seconds(30);
  while (!client_gone) {
    std::deque<v1::CheckEvent> batch;
    bool last = false;
    {
      std::unique_lock<std::mutex> lock(queue->mu);
      queue->cv.wait_for(lock, std::chrono::milliseconds(100),
                         [&] { return !queue->events.empty(); });
      batch.swap(queue->events);
      last = queue->done;
    }
    for (const v1::CheckEvent& e : batch) {
      if (!writer->Write(e)) {
        client_gone = true;
        break;
      }
    }
    if (last && !client_gone) return grpc::Status::OK;
    if (ctx->IsCancelled() || std::chrono::steady_clock::now() > give_up) break;
  }
  adhoc_->Cancel(started.id);
  return grpc::Status(grpc::StatusCode::CANCELLED, "the check's caller went away");
}

grpc::Status QueryServiceImpl::Incidents(grpc::ServerContext*, const v1::IncidentsRequest* req,
                                         v1::IncidentsResponse* resp) {
  size_t limit = req->limit() == 0 ? 50 : std::min<size_t>(req->limit(), 10000);
  std::vector<IncidentRecord> rows;
  parallax::Status st = store_->ListIncidents(req->target(), req->open_only(), limit, &rows);
  if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, st.ToString());
  for (const IncidentRecord& r : rows) {
    v1::Incident* i = resp->add_incidents();
    i->set_id(r.id);
    i->set_target(r.target);
    i->set_cause(static_cast<v1::Cause>(r.cause));
    i->set_opened_unix_ms(r.opened_ms);
    i->set_closed_unix_ms(r.closed_ms);
    i->set_summary(r.summary);
    for (const IncidentChangeRecord& c : r.changes) {
      v1::CauseChange* change = i->add_changes();
      change->set_unix_ms(c.at_ms);
      change->set_cause(static_cast<v1::Cause>(c.cause));
      change->set_summary(c.summary);
    }
  }
  return grpc::Status::OK;
}

}  // namespace parallax::collector
