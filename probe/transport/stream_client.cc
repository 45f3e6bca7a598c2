#include "probe/transport/stream_client.h"

#include <algorithm>

#include "common/clock.h"
#include "common/log.h"

namespace parallax::probe {

using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kMinBatchBytes = 16 << 10;
}  // namespace

StreamClient::StreamClient(StreamClientOptions options, Spool* spool)
    : options_(std::move(options)),
      spool_(spool),
      max_batch_bytes_(std::max(options_.batch.max_bytes, kMinBatchBytes)) {
  stats_.max_batch_bytes = max_batch_bytes_;
}

StreamClient::~StreamClient() { Stop(std::chrono::milliseconds(0)); }

void StreamClient::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StreamClient::Stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  draining_ = drain.count() > 0;
  stopping_ = true;
  sleep_cv_.notify_all();
  spool_->Wake();
  auto deadline = Clock::now() + drain;
  while (draining_ && Clock::now() < deadline && spool_->stats().size > 0 && stats().connected) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  draining_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  spool_->Wake();
  thread_.join();
}

StreamClientStats StreamClient::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void StreamClient::SetError(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.connected = false;
  stats_.last_error = error;
}

void StreamClient::Shrink(size_t bytes, const std::string& why, const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.batches_rejected;
  size_t before = max_batch_bytes_;
  max_batch_bytes_ = std::max(kMinBatchBytes, std::min(max_batch_bytes_, bytes) / 2);
  stats_.max_batch_bytes = max_batch_bytes_;
  shrunk_ = true;
  Logf(LogLevel::kWarning,
       "collector %s rejected a batch of %zu bytes (%s); batches are now at most %zu bytes "
       "(were %zu): raise the collector's max_receive_message_bytes or lower --max-batch-bytes",
       address.c_str(), bytes, why.c_str(), max_batch_bytes_, before);
}

void StreamClient::SleepInterruptible(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  sleep_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void StreamClient::Run() {
  CollectorList list = options_.collectors;
  // One channel per address, made when first tried and kept: gRPC keeps
  // reconnecting an idle channel's subchannel on its own.
  std::vector<std::unique_ptr<v1::ProbeService::Stub>> stubs(list.size());
  Backoff backoff(options_.backoff_initial, options_.backoff_max,
                  std::hash<std::string>{}(options_.hello.boot_id()));
  while (!stopping_ && list.size() > 0) {
    const std::string address = list.Current();
    auto& stub = stubs[list.current_index()];
    if (!stub) {
      stub = v1::ProbeService::NewStub(
          grpc::CreateCustomChannel(address, options_.credentials, options_.channel_args));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.collector = address;
    }
    auto started = Clock::now();
    uint64_t connects_before = stats().connects;
    Session(stub.get(), address);
    if (stopping_) break;
    // A session that got welcomed and lasted a while resets the backoff.
    if (stats().connects > connects_before && Clock::now() - started > std::chrono::seconds(10)) {
      backoff.Reset();
    }
    // A batch too large for the collector is our fault, not the collector's:
    // retry at once with the smaller bound (Shrink), without backing off,
    // on the same collector.
    bool shrunk = shrunk_.exchange(false);
    if (shrunk) backoff.Reset();
    if (!shrunk) list.Advance();  // failover: the next address (the same if only one)
    auto delay = shrunk ? std::chrono::milliseconds(100) : backoff.Next();
    if (list.size() > 1 && !shrunk) {
      Logf(LogLevel::kWarning,
           "collector %s: %s; failing over to collector %s in %lld ms (attempt %d)",
           address.c_str(), stats().last_error.c_str(), list.Current().c_str(),
           static_cast<long long>(delay.count()), backoff.attempt());
    } else {
      Logf(LogLevel::kWarning, "collector %s: %s; reconnecting in %lld ms (attempt %d)",
           address.c_str(), stats().last_error.c_str(), static_cast<long long>(delay.count()),
           backoff.attempt());
    }
    SleepInterruptible(delay);
  }
}

void StreamClient::Session(v1::ProbeService::Stub* stub, const std::string& address) {
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    context_ = &ctx;
  }
  auto stream = stub->Connect(&ctx);
  size_t last_batch_bytes = 0;
  // Ends the call and records why. `cancel` only when we end it ourselves:
  // otherwise Finish() returns the status the collector (or the channel) sent,
  // e.g. RESOURCE_EXHAUSTED, not the CANCELLED our own cancel would cause.
  auto finish = [&](const std::string& what, bool cancel = true) {
    if (cancel) ctx.TryCancel();
    grpc::Status st = stream->Finish();
    std::string error = what;
    if (!st.ok()) {
      error += ": " + st.error_message() + " (code " + std::to_string(st.error_code()) + ")";
    }
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && last_batch_bytes > 0) {
      Shrink(last_batch_bytes, st.error_message(), address);
    }
    SetError(error);
    std::lock_guard<std::mutex> lock(mu_);
    context_ = nullptr;
  };

  // Clock echo (probe.proto, ResultBatch): the collector stamp of the latest
  // Welcome/Ack and our wall clock when we read it; written by the reader
  // thread, read by this one.
  int64_t echo_t1 = 0, echo_t2 = 0;  // guarded by echo_mu
  std::mutex echo_mu;
  auto note_collector_clock = [&](int64_t collector_ms) {
    if (collector_ms <= 0) return;
    std::lock_guard<std::mutex> lock(echo_mu);
    echo_t1 = collector_ms;
    echo_t2 = WallClockMs();
  };
  auto echo = [&](auto* m) {
    std::lock_guard<std::mutex> lock(echo_mu);
    m->set_echo_collector_unix_ms(echo_t1);
    m->set_echo_received_unix_ms(echo_t2);
  };

  v1::ProbeMessage msg;
  *msg.mutable_hello() = options_.hello;
  msg.mutable_hello()->set_sent_unix_ms(WallClockMs());
  v1::CollectorMessage first;
  if (!stream->Write(msg) || !stream->Read(&first)) {
    return finish("stream closed before welcome", stopping_);
  }
  if (!first.has_welcome()) return finish("collector did not send a welcome", true);
  note_collector_clock(first.welcome().collector_unix_ms());
  spool_->Ack(first.welcome().committed_seq());
  spool_->Rewind();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.connected = true;
    ++stats_.connects;
  }
  SpoolStats ss = spool_->stats();
  Logf(LogLevel::kInfo,
       "connected to collector %s (version %s); %llu results to resend (%llu bytes)",
       address.c_str(), first.welcome().collector_version().c_str(),
       static_cast<unsigned long long>(ss.size), static_cast<unsigned long long>(ss.bytes));

  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    v1::CollectorMessage in;
    while (stream->Read(&in)) {
      if (in.has_ack()) {
        note_collector_clock(in.ack().collector_unix_ms());
        spool_->Ack(in.ack().seq());
      } else if (in.has_assignment()) {
        Logf(LogLevel::kInfo, "assignment generation %llu: %d targets",
             static_cast<unsigned long long>(in.assignment().generation()),
             in.assignment().targets_size());
        if (options_.on_assignment) options_.on_assignment(in.assignment());
        in = v1::CollectorMessage();  // frees the targets (Clear() keeps them for reuse)
      } else if (in.has_adhoc_check()) {
        if (options_.on_adhoc_check) options_.on_adhoc_check(in.adhoc_check());
      }
    }
    reader_done = true;
    spool_->Wake();
  });

  auto last_send = Clock::now();
  auto last_heartbeat = last_send;
  bool write_failed = false;
  while (!reader_done) {
    if (stopping_ && !(draining_ && spool_->stats().size > 0)) break;
    BatchLimits limits = options_.batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      limits.max_bytes = max_batch_bytes_;
    }
    if (stopping_) limits.linger = std::chrono::milliseconds(0);
    spool_->WaitBatch(limits, msg.mutable_results());
    if (msg.results().results_size() > 0) {
      echo(msg.mutable_results());
      msg.mutable_results()->set_sent_unix_ms(WallClockMs());
      last_batch_bytes = msg.ByteSizeLong();
      if (!stream->Write(msg)) {
        write_failed = true;
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.batches_sent;
      stats_.results_sent += msg.results().results_size();
      stats_.bytes_sent += last_batch_bytes;
      last_send = Clock::now();
    }
    // One heartbeat per interval, idle or busy: a probe whose results flow
    // all the time (spooling after an outage, or just many targets) is the
    // one whose spool size and drops matter most.
    bool due = options_.heartbeat_due && options_.heartbeat_due();
    if (due || Clock::now() - last_heartbeat >= options_.heartbeat_interval) {
      *msg.mutable_heartbeat() =
          options_.make_heartbeat ? options_.make_heartbeat() : v1::Heartbeat();
      echo(msg.mutable_heartbeat());
      msg.mutable_heartbeat()->set_unix_ms(WallClockMs());
      if (!stream->Write(msg)) {
        write_failed = true;
        break;
      }
      last_send = last_heartbeat = Clock::now();
    }
  }
  bool ours = !write_failed && !reader_done;  // we end the call (stopping)
  if (ours) {
    stream->WritesDone();
    ctx.TryCancel();
  } else {
    // The call is over (a failed write means the collector or the channel
    // ended it): the reader sees the end; cancel only if it does not.
    for (int i = 0; i < 100 && !reader_done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!reader_done) ctx.TryCancel();
  }
  reader.join();
  finish(stopping_ ? "stopped" : "stream broken", false);
}

}  // namespace parallax::probe
