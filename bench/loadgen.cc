// parallax-bench-loadgen: N synthetic probes against a real collector. Each
// opens one ProbeService.Connect stream (gRPC callback API), sends Hello,
// then ResultBatch messages with increasing seq at its share of --rate,
// batched like the probe's stream client (a batch is sent when --max-batch
// results are owed or --flush-ms after the last one), keeping at most
// --window results unacknowledged (as a probe's spool does),
// and reads the cumulative Acks the collector sends after each commit.
// Bounded by --seconds. Prints one line:
//   streams=N connected=N sent=N acked=N seconds=S acked_per_s=R
//   ack_p50_ms=X ack_p99_ms=X ack_max_ms=X
// With --reconnect (the soak, bench/soak.sh) a stream that ends (collector
// killed, storage failure) is reopened after 300 ms with the same probe name
// and boot id; like a probe, it resends from Welcome.committed_seq + 1. After
// --seconds it stops producing and waits up to --drain-seconds until every
// produced result is acknowledged, then also prints one line per stream:
//   stream name=lg-0 boot=b123 produced=N acked=N
// and adds reconnects=N produced=N to the summary line.
// where ack latency is from a batch's write to the ack covering it, an upper
// bound of "result arrives -> stored, metrics and status updated" (the
// collector acks after updating both).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "parallax/v1/probe.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = parallax::v1;

struct Options {
  std::string collector;
  int streams = 10;
  double rate = 10000;  // results/s, all streams together
  double seconds = 10;
  int targets = 100;
  int max_batch = 1000;
  int window = 20000;
  int flush_ms = 200;  // like the probe's stream client: a batch is full or this old
  std::string prefix = "lg";
  bool reconnect = false;
  double drain_seconds = 60;
};

class SyntheticProbe : public grpc::ClientBidiReactor<v1::ProbeMessage, v1::CollectorMessage> {
 public:
  // `boot_id` empty: a new one. `produced`: results an earlier stream of the
  // same boot produced (this one resends from Welcome.committed_seq + 1).
  SyntheticProbe(v1::ProbeService::Stub* stub, const Options& o, int index,
                 std::string boot_id = "", uint64_t produced = 0)
      : options_(o), index_(index), boot_id_(std::move(boot_id)), produced_(produced) {
    if (boot_id_.empty()) {
      boot_id_ = "b" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    }
    stub->async()->Connect(&context_, this);
    v1::ProbeMessage hello;
    hello.mutable_hello()->set_probe_name(name());
    (*hello.mutable_hello()->mutable_labels())["network"] = "bench-" + std::to_string(index % 10);
    hello.mutable_hello()->set_version("bench");
    hello.mutable_hello()->set_boot_id(boot_id_);
    out_ = std::move(hello);
    writing_ = true;
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }

  // Called by the pacer: sends what is owed if no write is in flight.
  void Pace(uint64_t owed_total) {
    std::lock_guard<std::mutex> lock(mu_);
    if (writing_ || done_ || !welcomed_) return;
    uint64_t unacked = next_seq_ - 1 - acked_;
    if (owed_total <= next_seq_ - 1 || unacked >= static_cast<uint64_t>(options_.window)) return;
    auto now = Clock::now();
    if (owed_total - (next_seq_ - 1) < static_cast<uint64_t>(options_.max_batch) &&
        now - last_send_ < std::chrono::milliseconds(options_.flush_ms)) {
      return;
    }
    last_send_ = now;
    uint64_t n =
        std::min<uint64_t>({owed_total - (next_seq_ - 1), static_cast<uint64_t>(options_.max_batch),
                            options_.window - unacked});
    out_.Clear();
    v1::ResultBatch* batch = out_.mutable_results();
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t seq = next_seq_++;
      v1::CheckResult* r = batch->add_results();
      r->set_seq(seq);
      r->set_target("t" + std::to_string((seq + index_) % options_.targets));
      r->set_outcome(seq % 10 == 0 ? v1::OUTCOME_REFUSED : v1::OUTCOME_OK);
      r->set_started_unix_ms(now_ms);
      r->set_connect_us(200 + seq % 97);
      r->set_address("127.0.0.1:22");
      if (seq % 10 != 0) {
        r->set_banner_us(300 + seq % 89);
        r->set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
      } else {
        r->set_error_number(111);
        r->set_detail("Connection refused");
      }
      r->set_generation(1);
    }
    produced_ = std::max(produced_, next_seq_ - 1);
    pending_.push_back({next_seq_ - 1, now});
    writing_ = true;
    StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) done_ = true;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (in_.has_welcome()) {
        welcomed_ = true;
        next_seq_ = in_.welcome().committed_seq() + 1;
        acked_ = next_seq_ - 1;
      } else if (in_.has_ack()) {
        acked_ = std::max<uint64_t>(acked_, in_.ack().seq());
        auto now = Clock::now();
        while (!pending_.empty() && pending_.front().first <= acked_) {
          latencies_ms_.push_back(
              std::chrono::duration<double, std::milli>(now - pending_.front().second).count());
          pending_.pop_front();
        }
      }
    }
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    finished_ = true;
    status_ = s;
    cv_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }
  bool WaitDone(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [this] { return finished_; });
  }
  uint64_t sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_seq_ - 1;
  }
  // Highest seq ever produced by this boot (across reconnects).
  uint64_t produced() {
    std::lock_guard<std::mutex> lock(mu_);
    return produced_;
  }
  bool finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  std::string name() const { return options_.prefix + "-" + std::to_string(index_); }
  const std::string& boot_id() const { return boot_id_; }
  uint64_t acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  bool welcomed() {
    std::lock_guard<std::mutex> lock(mu_);
    return welcomed_;
  }
  std::vector<double> latencies() {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_ms_;
  }

 private:
  const Options& options_;
  const int index_;
  std::string boot_id_;
  uint64_t produced_ = 0;  // guarded by mu_
  grpc::ClientContext context_;
  v1::ProbeMessage out_;
  v1::CollectorMessage in_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false, done_ = false, finished_ = false, welcomed_ = false;
  uint64_t next_seq_ = 1, acked_ = 0;
  Clock::time_point last_send_{};
  std::deque<std::pair<uint64_t, Clock::time_point>> pending_;  // batch max seq, write time
  std::vector<double> latencies_ms_;
  grpc::Status status_;
};

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  size_t k = std::min(v->size() - 1, static_cast<size_t>(p * v->size()));
  std::nth_element(v->begin(), v->begin() + k, v->end());
  return (*v)[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Synthetic probe streams against a Parallax collector", "parallax-bench-loadgen"};
  Options o;
  app.add_option("--collector", o.collector, "Collector gRPC address host:port")->required();
  app.add_option("--streams", o.streams, "Probe streams")->check(CLI::Range(1, 2000));
  app.add_option("--rate", o.rate, "Results per second, all streams")->check(CLI::Range(1.0, 1e7));
  app.add_option("--seconds", o.seconds, "How long to push")->check(CLI::Range(0.5, 3600.0));
  app.add_option("--targets", o.targets, "Target names t0..t<N-1>")->check(CLI::Range(1, 1000000));
  app.add_option("--max-batch", o.max_batch, "Results per batch, at most")
      ->check(CLI::Range(1, 10000));
  app.add_option("--window", o.window, "Unacknowledged results per stream, at most")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--flush-ms", o.flush_ms, "Send a partial batch after this long (the probe: 200)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--prefix", o.prefix, "Probe name prefix");
  app.add_flag("--reconnect", o.reconnect,
               "Reopen ended streams with the same boot and resend (the soak); then drain");
  app.add_option("--drain-seconds", o.drain_seconds,
                 "With --reconnect: how long to wait for every result to be acknowledged")
      ->check(CLI::Range(0.0, 3600.0));
  CLI11_PARSE(app, argc, argv);

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::shared_ptr<grpc::Channel>> channels;  // a few HTTP/2 connections
  std::vector<std::unique_ptr<v1::ProbeService::Stub>> stubs;
  for (int i = 0; i < std::min(o.streams, 8); ++i) {
    args.SetInt("bench.channel", i);  // distinct args: distinct connections
    channels.push_back(
        grpc::CreateCustomChannel(o.collector, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::ProbeService::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<SyntheticProbe>> probes;
  for (int i = 0; i < o.streams; ++i) {
    probes.push_back(std::make_unique<SyntheticProbe>(stubs[i % stubs.size()].get(), o, i));
  }
  // Wait (bounded) for every Welcome before the clock starts.
  auto welcome_deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < welcome_deadline &&
         !std::all_of(probes.begin(), probes.end(), [](auto& p) { return p->welcomed(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int connected = 0;
  for (auto& p : probes) connected += p->welcomed() ? 1 : 0;

  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  const double per_stream = o.rate / o.streams;
  // --reconnect: reopen ended streams (same name and boot) after 300 ms.
  int reconnects = 0;
  std::vector<Clock::time_point> retry_at(probes.size());
  std::vector<double> lat;
  auto reopen_ended = [&] {
    if (!o.reconnect) return;
    for (size_t i = 0; i < probes.size(); ++i) {
      if (!probes[i]->finished()) {
        retry_at[i] = Clock::time_point{};
        continue;
      }
      if (retry_at[i] == Clock::time_point{}) {
        retry_at[i] = Clock::now() + std::chrono::milliseconds(300);
      } else if (Clock::now() >= retry_at[i]) {
        std::vector<double> l = probes[i]->latencies();
        lat.insert(lat.end(), l.begin(), l.end());
        std::unique_ptr<SyntheticProbe> old = std::move(probes[i]);
        probes[i] = std::make_unique<SyntheticProbe>(
            stubs[i % stubs.size()].get(), o, static_cast<int>(i), old->boot_id(), old->produced());
        retry_at[i] = Clock::time_point{};
        ++reconnects;
      }
    }
  };
  uint64_t owed = 0;
  while (Clock::now() < end) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    owed = static_cast<uint64_t>(per_stream * elapsed);
    for (auto& p : probes) p->Pace(owed);
    reopen_ended();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (o.reconnect) {  // produce nothing new; resend until everything is acknowledged
    auto drain_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.drain_seconds));
    while (Clock::now() < drain_end) {
      bool all = true;
      for (auto& p : probes) {
        p->Pace(p->produced());
        all = all && !p->finished() && p->acked() >= p->produced();
      }
      if (all) break;
      reopen_ended();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  uint64_t sent = 0, acked = 0, produced = 0;
  for (auto& p : probes) {
    sent += p->sent();
    acked += p->acked();
    produced += p->produced();
    std::vector<double> l = p->latencies();
    lat.insert(lat.end(), l.begin(), l.end());
  }
  if (o.reconnect) {
    for (auto& p : probes) {
      std::printf("stream name=%s boot=%s produced=%llu acked=%llu\n", p->name().c_str(),
                  p->boot_id().c_str(), static_cast<unsigned long long>(p->produced()),
                  static_cast<unsigned long long>(p->acked()));
    }
  }
  for (auto& p : probes) p->Cancel();
  for (auto& p : probes) p->WaitDone(std::chrono::milliseconds(2000));
  double p50 = Percentile(&lat, 0.5), p99 = Percentile(&lat, 0.99);
  double max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  std::printf(
      "streams=%d connected=%d sent=%llu acked=%llu seconds=%.3f acked_per_s=%.0f "
      "ack_p50_ms=%.1f ack_p99_ms=%.1f ack_max_ms=%.1f",
      o.streams, connected, static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(acked), seconds, acked / seconds, p50, p99, max);
  if (o.reconnect) {
    std::printf(" reconnects=%d produced=%llu", reconnects,
                static_cast<unsigned long long>(produced));
  }
  std::printf("\n");
  if (o.reconnect && acked != produced) return 1;  // something was never acknowledged
  return connected == o.streams ? 0 : 1;
}
