#include "collector/ingest/probe_stream.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>

#include "collector/auth/hello_check.h"
#include "collector/ingest/validate.h"
#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector {

// Everything another thread may touch, behind one short lock. The reactor
// pointer is cleared in OnDone, after which every call is a no-op.
class ProbeStream::Link : public StreamLink {
 public:
  Link(ProbeStream* stream, std::string peer, int max_outstanding)
      : stream_(stream), peer_(std::move(peer)), max_outstanding_(max_outstanding) {}

  void Send(const v1::CollectorMessage& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr || finishing_) return;
    queue_.push_back(msg);
    if (!writing_) StartWriteLocked();
  }

  void Close(int code, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr || finishing_) return;
    finishing_ = true;
    status_ = grpc::Status(static_cast<grpc::StatusCode>(code), message);
    if (!writing_) FinishLocked();
  }

  std::map<std::string, std::string> labels() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return labels_;
  }
  std::string peer() const override { return peer_; }
  void set_labels(std::map<std::string, std::string> labels) {
    std::lock_guard<std::mutex> lock(mu_);
    labels_ = std::move(labels);
  }

  void WriteDone(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (stream_ == nullptr) return;
    if (!ok && !finishing_) {
      finishing_ = true;
      status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to probe failed");
    }
    if (finishing_) {
      FinishLocked();
    } else if (!queue_.empty()) {
      StartWriteLocked();
    }
  }

  // Starts the next read unless the stream is finishing or too many batches
  // wait for commit (then BatchCommitted starts it).
  void ReadMore() {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr || finishing_ || throttled_) return;
    if (outstanding_ >= max_outstanding_) {
      paused_ = true;
      return;
    }
    stream_->StartRead(&stream_->in_);
  }
  // Pauses reading for `ms` (the per-stream result rate limit), then reads
  // on as ReadMore would. `self` is this link (the alarm holds it weakly).
  void PauseFor(int64_t ms, const std::shared_ptr<Link>& self) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr || finishing_) return;
    throttled_ = true;
    std::weak_ptr<Link> weak = self;
    // A fresh alarm each pause (the last one has fired: no read ran before).
    alarm_ = std::make_unique<grpc::Alarm>();
    alarm_->Set(std::chrono::system_clock::now() + std::chrono::milliseconds(ms),
                [weak](bool fired) {
                  std::shared_ptr<Link> link = weak.lock();
                  if (link == nullptr) return;
                  {
                    std::lock_guard<std::mutex> lock(link->mu_);
                    link->throttled_ = false;
                  }
                  if (fired) link->ReadMore();
                });
  }
  // Runs `submit` (which must only queue, never block or call back into this
  // Link synchronously) and counts the batch as outstanding, unless the stream
  // is closing: then returns false and submits nothing. Under the lock, so a
  // Close() from another thread (a newer stream of the probe replacing this
  // one, then asking the store for its Welcome's committed seq) either
  // happens after the batch is queued or prevents it: an old stream never
  // queues results behind the new stream's resume point.
  bool SubmitUnlessClosing(const std::function<void()>& submit) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ == nullptr || finishing_) return false;
    ++outstanding_;
    submit();
    return true;
  }
  void BatchCommitted() {
    std::lock_guard<std::mutex> lock(mu_);
    --outstanding_;
    if (paused_ && !throttled_ && stream_ != nullptr && !finishing_) {
      paused_ = false;
      stream_->StartRead(&stream_->in_);
    }
  }
  void Detach() {
    std::unique_ptr<grpc::Alarm> alarm;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stream_ = nullptr;
      alarm = std::move(alarm_);
    }
    if (alarm != nullptr) alarm->Cancel();  // outside the lock: the callback may run at once
  }

 private:
  void StartWriteLocked() {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    stream_->StartWrite(&current_);
  }
  void FinishLocked() {
    if (finish_called_) return;
    finish_called_ = true;
    stream_->Finish(status_);
  }

  mutable std::mutex mu_;
  ProbeStream* stream_;
  const std::string peer_;
  const int max_outstanding_;
  std::map<std::string, std::string> labels_;
  std::deque<v1::CollectorMessage> queue_;
  v1::CollectorMessage current_;
  bool writing_ = false;
  bool finishing_ = false;
  bool finish_called_ = false;
  bool paused_ = false;
  bool throttled_ = false;  // waiting for the rate limit's alarm
  std::unique_ptr<grpc::Alarm> alarm_;
  int outstanding_ = 0;
  grpc::Status status_;
};

ProbeStream::ProbeStream(grpc::CallbackServerContext* context, const IngestDeps* deps)
    : deps_(deps),
      link_(std::make_shared<Link>(this, context->peer(), deps->max_outstanding_batches)),
      peer_identity_(IdentityFromAuthContext(context->auth_context().get())) {
  link_->ReadMore();
}

void ProbeStream::OnReadDone(bool ok) {
  if (!ok) {  // the probe half-closed or the stream broke
    link_->Close(grpc::StatusCode::OK, "");
    return;
  }
  if (!hello_done_) {
    if (!in_.has_hello()) {
      deps_->metrics->CountStreamEvent("rejected");
      link_->Close(grpc::StatusCode::INVALID_ARGUMENT,
                   "the first message on a probe stream must be a hello");
      return;
    }
    HandleHello(in_.hello());
    return;
  }
  switch (in_.msg_case()) {
    case v1::ProbeMessage::kResults:
      HandleResults(in_.mutable_results());
      return;
    case v1::ProbeMessage::kHeartbeat: {
      const int64_t now = deps_->now_ms();
      const v1::Heartbeat& hb = in_.heartbeat();
      ClockSample(hb.unix_ms(), now, hb.echo_collector_unix_ms(), hb.echo_received_unix_ms());
      deps_->state->ProbeHeartbeat(probe_, hb, now);
      if (deps_->policy_reports != nullptr) deps_->policy_reports->OnHeartbeat(probe_, hb);
      link_->ReadMore();
      return;
    }
    case v1::ProbeMessage::kHello:
      link_->Close(grpc::StatusCode::INVALID_ARGUMENT, "hello sent twice on one stream");
      return;
    default:  // a message type from a newer probe: ignore it
      link_->ReadMore();
      return;
  }
}

void ProbeStream::ClockSample(int64_t probe_sent_ms, int64_t received_ms, int64_t echo_t1_ms,
                              int64_t echo_t2_ms) {
  clock_.Add(probe_sent_ms, received_ms, echo_t1_ms, echo_t2_ms);
  if (!clock_.known()) return;
  if (clock_published_ && clock_.offset_ms() == clock_published_ms_) return;
  clock_published_ = true;
  clock_published_ms_ = clock_.offset_ms();
  deps_->state->ProbeClock(probe_, clock_.offset_ms(), clock_.rtt_ms());
}

void ProbeStream::HandleHello(const v1::Hello& hello) {
  Status st = ValidateHello(hello);
  if (!st.ok()) {
    Logf(LogLevel::kWarning, "probe stream from %s rejected: %s", link_->peer().c_str(),
         st.message().c_str());
    deps_->metrics->CountStreamEvent("rejected");
    link_->Close(grpc::StatusCode::INVALID_ARGUMENT, st.message());
    return;
  }
  st = CheckHelloIdentity(peer_identity_, hello, deps_->config().config.get());
  if (!st.ok()) {
    Logf(LogLevel::kWarning, "probe stream from %s refused: %s", link_->peer().c_str(),
         st.message().c_str());
    deps_->metrics->CountStreamEvent("refused");
    link_->Close(grpc::StatusCode::PERMISSION_DENIED, st.message());
    return;
  }
  std::map<std::string, std::string> labels(hello.labels().begin(), hello.labels().end());
  link_->set_labels(labels);
  std::shared_ptr<StreamLink> old;
  const int64_t max_probes = deps_->config().config->max_probes;
  if (!deps_->hub->RegisterWithin(hello.probe_name(), link_, static_cast<size_t>(max_probes),
                                  &old)) {
    const std::string why = "probe \"" + hello.probe_name() + "\" refused: max_probes (" +
                            std::to_string(max_probes) +
                            ") probes are connected already; raise max_probes in the "
                            "collector config";
    Logf(LogLevel::kWarning, "probe stream from %s refused: %s", link_->peer().c_str(),
         why.c_str());
    deps_->metrics->CountStreamEvent("refused");
    link_->Close(grpc::StatusCode::RESOURCE_EXHAUSTED, why);
    return;
  }
  hello_done_ = true;
  {
    const Config& config = *deps_->config().config;
    rate_limit_.emplace(config.stream_results_per_second, config.stream_results_burst);
  }
  probe_ = hello.probe_name();
  boot_id_ = hello.boot_id();
  int64_t now = deps_->now_ms();
  registered_ = true;
  if (deps_->certs != nullptr) deps_->certs->Set(probe_, peer_identity_);
  if (old) {
    Logf(LogLevel::kWarning, "probe %s connected again from %s: replacing its stream from %s",
         probe_.c_str(), link_->peer().c_str(), old->peer().c_str());
    old->Close(grpc::StatusCode::ABORTED,
               "replaced by a newer stream of probe \"" + probe_ + "\" from " + link_->peer());
    deps_->metrics->CountStreamEvent("replaced");
  }
  deps_->metrics->CountStreamEvent("opened");
  deps_->metrics->SetStreams(deps_->hub->size());
  deps_->state->ProbeConnected(hello, link_->peer(), now);
  ClockSample(hello.sent_unix_ms(), now, 0, 0);
  deps_->store->RecordProbe({probe_, labels, hello.version(), now, now});

  v1::CollectorMessage welcome;
  welcome.mutable_welcome()->set_collector_version(deps_->collector_version);
  welcome.mutable_welcome()->set_committed_seq(deps_->store->CommittedSeq(probe_, boot_id_));
  welcome.mutable_welcome()->set_collector_unix_ms(deps_->now_ms());
  link_->Send(welcome);
  v1::CollectorMessage assignment;
  *assignment.mutable_assignment() = BuildAssignment(deps_->config(), labels);
  Logf(LogLevel::kInfo, "probe %s (%s, version %s) connected from %s: %d targets assigned",
       probe_.c_str(), boot_id_.c_str(), hello.version().c_str(), link_->peer().c_str(),
       assignment.assignment().targets_size());
  link_->Send(assignment);
  link_->ReadMore();
}

void ProbeStream::HandleResults(v1::ResultBatch* batch) {
  std::vector<v1::CheckResult> results;
  results.reserve(batch->results_size());
  uint64_t batch_max_seq = 0;
  int rejected = 0, unassigned = 0;
  const ConfigSnapshot snapshot = deps_->config();
  const std::map<std::string, std::string> labels = link_->labels();
  const int64_t received = deps_->now_ms();
  ClockSample(batch->sent_unix_ms(), received, batch->echo_collector_unix_ms(),
              batch->echo_received_unix_ms());
  for (int i = 0; i < batch->results_size(); ++i) {
    v1::CheckResult* r = batch->mutable_results(i);
    batch_max_seq = std::max<uint64_t>(batch_max_seq, r->seq());
    Status st = ValidateResult(*r, i);
    bool assigned = false;
    bool unexpected_adhoc = false;
    if (st.ok() && !r->adhoc_id().empty()) {
      assigned = deps_->adhoc_expects && r->adhoc_id().size() <= 64 &&
                 deps_->adhoc_expects(probe_, r->adhoc_id(), r->target());
      if (!assigned) {
        unexpected_adhoc = true;
        st = Status::InvalidArgument(
            "results[" + std::to_string(i) + "].adhoc_id: \"" +
            EscapeForTerminal(r->adhoc_id().substr(0, 64)) + "\" (target \"" + r->target() +
            "\") is no ad-hoc check this probe was asked (or it ended long ago)");
      }
    } else {
      assigned = st.ok() && assigned_.Contains(snapshot, labels, r->target());
    }
    if (assigned) {
      // The collector's clock decides: never later than the arrival, so a
      // probe (or its clock) can make a result look older, never fresher.
      r->set_received_unix_ms(received);
      r->set_collector_started_unix_ms(
          clock_.known() ? std::min(received, clock_.ToCollector(r->started_unix_ms())) : received);
      results.push_back(std::move(*r));
      continue;
    }
    if (unexpected_adhoc) {
      ++unassigned;
    } else if (st.ok()) {
      ++unassigned;
      st = Status::InvalidArgument("results[" + std::to_string(i) + "].target: \"" + r->target() +
                                   "\" is not in this probe's current assignment");
    } else {
      ++rejected;
    }
    int64_t now = deps_->now_ms();
    if (now - last_reject_log_ms_ > 60'000) {  // at most one line a minute per stream
      last_reject_log_ms_ = now;
      Logf(LogLevel::kWarning, "probe %s sent an invalid result, dropped: %s", probe_.c_str(),
           st.message().c_str());
    }
  }
  if (rejected > 0) deps_->metrics->CountRejected("invalid", rejected);
  if (unassigned > 0) deps_->metrics->CountRejected("unassigned", unassigned);
  deps_->state->ProbeSeen(probe_, received);

  const IngestDeps* deps = deps_;
  std::shared_ptr<Link> link = link_;
  std::string probe = probe_;
  const bool submitted = link_->SubmitUnlessClosing([&] {
    deps_->store->SubmitResults(
        probe_, boot_id_, std::move(results),
        [deps, link, probe, batch_max_seq](const CommitInfo& info) {
          if (info.status.ok()) {
            // The last `stored` results (sorted by seq) are new; the rest were
            // duplicates of stored ones and must not count twice.
            const std::vector<v1::CheckResult>& all = *info.results;
            std::span<const v1::CheckResult> stored(
                all.end() - std::min<size_t>(all.size(), info.stored), all.end());
            // Ad-hoc results (rare) go to their check, never to LiveState.
            const bool any_adhoc = std::any_of(stored.begin(), stored.end(),
                                               [](const auto& r) { return !r.adhoc_id().empty(); });
            if (!any_adhoc) {
              deps->state->UpdateResults(probe, stored);
            } else {
              std::vector<v1::CheckResult> scheduled;
              for (const v1::CheckResult& r : stored) {
                if (r.adhoc_id().empty()) {
                  scheduled.push_back(r);
                } else if (deps->adhoc_result) {
                  deps->adhoc_result(probe, r);
                }
              }
              deps->state->UpdateResults(probe, scheduled);
            }
            deps->metrics->CountIngest(info.stored, info.duplicates);
            v1::CollectorMessage ack;
            ack.mutable_ack()->set_seq(std::max(info.committed_seq, batch_max_seq));
            ack.mutable_ack()->set_collector_unix_ms(deps->now_ms());
            link->Send(ack);
          } else {
            Logf(LogLevel::kError, "storing results of probe %s failed: %s", probe.c_str(),
                 info.status.ToString().c_str());
            link->Close(grpc::StatusCode::UNAVAILABLE,
                        "collector storage failed; reconnect and resend: " + info.status.message());
          }
          link->BatchCommitted();
        });
  });
  if (!submitted) {
    // Closing (replaced, cancelled or failed): the probe resends these on its
    // next stream, from that stream's Welcome. Nothing to count: not stored,
    // not acknowledged, not lost.
    return;
  }
  const int64_t wait_ms = rate_limit_->Take(batch->results_size(), received);
  if (wait_ms > 0) {
    deps_->state->ProbeThrottled(probe_);
    link_->PauseFor(wait_ms, link_);
    return;
  }
  link_->ReadMore();
}

void ProbeStream::OnWriteDone(bool ok) { link_->WriteDone(ok); }

void ProbeStream::OnCancel() { link_->Close(grpc::StatusCode::CANCELLED, "cancelled"); }

void ProbeStream::OnDone() {
  if (registered_ && deps_->hub->Unregister(probe_, link_.get())) {
    deps_->state->ProbeDisconnected(probe_, deps_->now_ms());
    Logf(LogLevel::kInfo, "probe %s disconnected", probe_.c_str());
  }
  deps_->metrics->SetStreams(deps_->hub->size());
  link_->Detach();
  delete this;
}

void PushAssignments(const IngestDeps& deps) {
  ConfigSnapshot snapshot = deps.config();
  for (const auto& [probe, link] : deps.hub->All()) {
    v1::CollectorMessage msg;
    *msg.mutable_assignment() = BuildAssignment(snapshot, link->labels());
    link->Send(msg);
  }
}

}  // namespace parallax::collector
